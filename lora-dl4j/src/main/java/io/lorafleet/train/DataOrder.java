package io.lorafleet.train;

import java.util.SplittableRandom;

/**
 * Which rows make up global batch g: each epoch is a permutation of the N rows drawn from (seed, epoch),
 * cut into ceil(N / B) batches, the last one shorter. A function of (seed, g) alone, so any worker, a
 * retried task or a resumed run gets the same batch for the same g.
 */
public final class DataOrder {
    private final int rows;
    private final int batchSize;
    private final long seed;
    private int cachedEpoch = -1;
    private int[] cachedPermutation;

    public DataOrder(int rows, int batchSize, long seed) {
        if (rows <= 0) throw new IllegalArgumentException("no rows to train on");
        if (batchSize <= 0) throw new IllegalArgumentException("batch_size must be > 0, got " + batchSize);
        this.rows = rows;
        this.batchSize = batchSize;
        this.seed = seed;
    }

    public int batchesPerEpoch() {
        return (rows + batchSize - 1) / batchSize;
    }

    /** Row indices of global batch {@code g} (0-based over the whole run). */
    public int[] batch(long g) {
        int epoch = Math.toIntExact(g / batchesPerEpoch());
        int j = (int) (g % batchesPerEpoch());
        int[] perm = permutation(epoch);
        int from = j * batchSize, to = Math.min(rows, from + batchSize);
        return java.util.Arrays.copyOfRange(perm, from, to);
    }

    private int[] permutation(int epoch) {
        if (epoch != cachedEpoch) {
            int[] p = new int[rows];
            for (int i = 0; i < rows; i++) p[i] = i;
            SplittableRandom random = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + epoch);
            for (int i = rows - 1; i > 0; i--) {
                int k = random.nextInt(i + 1);
                int t = p[i];
                p[i] = p[k];
                p[k] = t;
            }
            cachedPermutation = p;
            cachedEpoch = epoch;
        }
        return cachedPermutation;
    }
}
