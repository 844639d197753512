package io.lorafleet.spark;

import io.lorafleet.datasets.ShardRow;
import io.lorafleet.model.TokenBatch;
import io.lorafleet.model.TransformerConfig;
import io.lorafleet.nn.SoftmaxCrossEntropy;
import io.lorafleet.train.BulkTrainer;

import java.util.ArrayList;
import java.util.List;

/** Shard rows (the data module's) → the engine's training batch, padded to its own longest row (never to max_length). */
public final class Batches {
    public static final int PAD_ID = 0;

    private Batches() { }

    /**
     * @param causalLm labels become the tokens themselves (the model shifts them), ignored outside a row's loss spans
     *                 (an instruction row's prompt); otherwise one class id per row
     */
    public static TokenBatch pad(List<ShardRow> rows, boolean causalLm) {
        int b = rows.size();
        int t = 0;
        for (ShardRow r : rows) t = Math.max(t, r.length());
        int[] ids = new int[b * t], types = new int[b * t], mask = new int[b * t];
        int[] labels = causalLm ? new int[b * t] : new int[b];
        java.util.Arrays.fill(ids, PAD_ID);
        for (int i = 0; i < b; i++) {
            ShardRow r = rows.get(i);
            System.arraycopy(r.inputIds(), 0, ids, i * t, r.length());
            System.arraycopy(r.tokenTypeIds(), 0, types, i * t, r.length());
            java.util.Arrays.fill(mask, i * t, i * t + r.length(), 1);
            if (causalLm) {
                for (int j = 0; j < r.length(); j++) labels[i * t + j] = r.learned(j) ? r.inputIds()[j] : SoftmaxCrossEntropy.IGNORE_INDEX;
            } else {
                if (r.label() < 0) throw new IllegalArgumentException("row " + r.rowId() + " of " + r.adapterId() + " has no class label");
                labels[i] = r.label();
            }
        }
        return new TokenBatch(b, t, ids, types, mask, labels);
    }

    /**
     * The rows in order, in batches of at most {@code batchSize} cut earlier where a batch's activations over its real
     * lengths ({@link BulkTrainer#stepBytes}) would pass {@code maxBytes} (a row over it alone is a batch of its own):
     * for work whose result the batch size changes only in its rounding, such as evaluation.
     */
    public static List<List<ShardRow>> fitting(List<ShardRow> rows, int batchSize, long maxBytes, BulkTrainer.StepShape shape) {
        int[] lengths = rows.stream().mapToInt(ShardRow::length).toArray();
        List<List<ShardRow>> batches = new ArrayList<>();
        for (int[] run : BulkTrainer.runs(lengths, batchSize, maxBytes, shape)) batches.add(new ArrayList<>(rows.subList(run[0], run[1])));
        return batches;
    }

    /** Activations of a forward and backward over the rows' real tokens ({@link BulkTrainer#stepBytes}). */
    public static long stepBytes(List<ShardRow> rows, BulkTrainer.StepShape shape) {
        long tokens = 0, squared = 0;
        for (ShardRow r : rows) {
            tokens += r.length();
            squared += (long) r.length() * r.length();
        }
        return BulkTrainer.stepBytes(shape, tokens, squared);
    }
}
