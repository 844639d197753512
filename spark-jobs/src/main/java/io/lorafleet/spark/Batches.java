package io.lorafleet.spark;

import io.lorafleet.datasets.ShardRow;
import io.lorafleet.model.TokenBatch;

import java.util.List;

/** Shard rows (the data module's) → the engine's training batch, padded to its own longest row (never to max_length). */
public final class Batches {
    public static final int PAD_ID = 0;

    private Batches() { }

    /**
     * @param causalLm labels become the tokens themselves (the model shifts them); otherwise one class id per row
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
                System.arraycopy(r.inputIds(), 0, labels, i * t, r.length());
            } else {
                if (r.label() < 0) throw new IllegalArgumentException("row " + r.rowId() + " of " + r.adapterId() + " has no class label");
                labels[i] = r.label();
            }
        }
        return new TokenBatch(b, t, ids, types, mask, labels);
    }
}
