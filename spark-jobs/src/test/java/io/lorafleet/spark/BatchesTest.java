package io.lorafleet.spark;

import io.lorafleet.datasets.ShardRow;
import io.lorafleet.model.TokenBatch;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Shard rows become a batch padded to its own longest row, never to max_length. */
class BatchesTest {
    private static ShardRow row(long id, int label, int... ids) {
        return new ShardRow("a", "train", id, ids, new int[ids.length], label, "f", id + 1);
    }

    @Test
    void aBatchIsPaddedToItsOwnLongestRowWithTheMaskOnRealTokens() {
        TokenBatch b = Batches.pad(List.of(row(0, 1, 101, 7, 102), row(1, 0, 101, 102)), false);
        assertEquals(3, b.seqLen());
        assertArrayEquals(new int[] {101, 7, 102, 101, 102, Batches.PAD_ID}, b.inputIds());
        assertArrayEquals(new int[] {1, 1, 1, 1, 1, 0}, b.attentionMask());
        assertArrayEquals(new int[] {1, 0}, b.labels());

        TokenBatch lm = Batches.pad(List.of(row(0, ShardRow.NO_LABEL, 5, 6, 7), row(1, ShardRow.NO_LABEL, 8)), true);
        assertArrayEquals(new int[] {5, 6, 7, 8, 0, 0}, lm.labels(), "a causal LM's labels are its tokens (the model shifts them)");
        assertThrows(IllegalArgumentException.class, () -> Batches.pad(List.of(row(0, ShardRow.NO_LABEL, 1, 2)), false));
    }

    @Test
    void rowsAreBatchedWithinTheMemoryBudgetInOrderAndNoneIsLost() {
        var config = new io.lorafleet.train.BulkTrainer.StepShape(io.lorafleet.model.TransformerConfig.bert(31, 16, 2, 2, 24, 64), false, 0);
        List<ShardRow> rows = new java.util.ArrayList<>();
        for (int i = 0; i < 10; i++) rows.add(row(i, 0, new int[i == 4 ? 60 : 3 + i]));
        long budget = io.lorafleet.train.BulkTrainer.stepBytes(config, 3 * 12, 3 * 12 * 12);
        List<List<ShardRow>> batches = Batches.fitting(rows, 4, budget, config);
        assertEquals(rows, batches.stream().flatMap(List::stream).toList(), "every row once, in order");
        for (int i = 0; i < batches.size(); i++) {
            List<ShardRow> b = batches.get(i);
            boolean fits = Batches.stepBytes(b, config) <= budget;
            assertTrue(b.size() <= 4 && (fits || b.size() == 1), b.size() + " rows: " + b);
            if (i + 1 == batches.size()) continue;
            List<ShardRow> withNext = new java.util.ArrayList<>(b);
            withNext.add(batches.get(i + 1).get(0));
            assertTrue(withNext.size() > 4 || Batches.stepBytes(withNext, config) > budget, "batch " + i + " could take the next row");
        }
        assertEquals(List.of(rows.get(4)), batches.stream().filter(b -> b.contains(rows.get(4))).findFirst().orElseThrow(), "the row over the budget alone");
        assertEquals(List.of(4, 4, 2), Batches.fitting(rows, 4, Long.MAX_VALUE, config).stream().map(List::size).toList(),
                "without a budget: batch_size rows");
    }
}
