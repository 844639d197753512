package io.lorafleet.nn;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;

/**
 * One attention layer's keys and values of every sequence being decoded, one row per token so far (k rotated, k and v
 * before GQA's repetition: [tokens, kvHeads · hd] each), so that a new token attends to them without recomputing them.
 * Kept in float64 on the heap: a decode step reads every row once per head.
 */
public final class KeyValueCache {
    private final double[][] keys, values; // per sequence: [capacity · width], row-major
    private final int[] lengths;           // tokens cached per sequence
    private final int width;

    public KeyValueCache(int sequences, int width) {
        this.keys = new double[sequences][width * 16];
        this.values = new double[sequences][width * 16];
        this.lengths = new int[sequences];
        this.width = width;
    }

    /** Appends row r of k and v [B, width] to sequence {@code sequences[r]}. */
    void append(int[] sequences, INDArray k, INDArray v) {
        double[] kRows = k.dup('c').reshape(k.length()).toDoubleVector(), vRows = v.dup('c').reshape(v.length()).toDoubleVector();
        for (int r = 0; r < sequences.length; r++) {
            int s = sequences[r], at = lengths[s] * width;
            if (at + width > keys[s].length) {
                keys[s] = Arrays.copyOf(keys[s], 2 * (at + width));
                values[s] = Arrays.copyOf(values[s], 2 * (at + width));
            }
            System.arraycopy(kRows, r * width, keys[s], at, width);
            System.arraycopy(vRows, r * width, values[s], at, width);
            lengths[s]++;
        }
    }

    int length(int sequence) { return lengths[sequence]; }

    double[] keys(int sequence) { return keys[sequence]; }

    double[] values(int sequence) { return values[sequence]; }

    int width() { return width; }
}
