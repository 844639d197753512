package io.lorafleet.spark;

import io.lorafleet.datasets.ShardRow;
import io.lorafleet.model.TokenBatch;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

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
}
