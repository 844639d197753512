package io.lorafleet.model;

import java.util.Arrays;
import java.util.List;

/**
 * A batch's real tokens only, sequence after sequence: sequence b owns rows [start(b), start(b+1)). Every
 * layer computes on these rows, so padding costs nothing: projections, LayerNorm and GELU see only real
 * tokens, attention runs per sequence over its own length. In a BERT or GPT-2 layer no real token reads a
 * padded one (their keys are masked out), so the result equals the padded computation's on real tokens.
 *
 * @param starts       [B+1] first row of each sequence, then the total row count
 * @param inputIds     [N] token ids
 * @param tokenTypeIds [N] segment ids
 * @param positionIds  [N] each token's position in its padded sequence (what position embeddings see)
 * @param labels       [B] class ids, or [N] token labels for a causal LM, or null
 */
public record PackedBatch(int[] starts, int[] inputIds, int[] tokenTypeIds, int[] positionIds, int[] labels) {

    /** Keeps the tokens whose attention mask is 1, in order; fails on a sequence with none. */
    public static PackedBatch of(TokenBatch batch) {
        int b = batch.batchSize(), t = batch.seqLen();
        int n = Math.toIntExact(batch.tokens());
        int[] starts = new int[b + 1], ids = new int[n], types = new int[n], positions = new int[n];
        boolean tokenLabels = batch.labels() != null && batch.labels().length == batch.rows() && batch.rows() != b;
        int[] labels = tokenLabels ? new int[n] : batch.labels();
        int row = 0;
        for (int s = 0; s < b; s++) {
            starts[s] = row;
            for (int p = 0; p < t; p++) {
                int i = s * t + p;
                if (batch.attentionMask()[i] == 0) continue;
                ids[row] = batch.inputIds()[i];
                types[row] = batch.tokenTypeIds() == null ? 0 : batch.tokenTypeIds()[i];
                positions[row] = p;
                if (tokenLabels) labels[row] = batch.labels()[i];
                row++;
            }
            if (row == starts[s]) throw new IllegalArgumentException("sequence " + s + " of the batch has no real token (attention mask all 0)");
        }
        starts[b] = row;
        return new PackedBatch(starts, ids, types, positions, labels);
    }

    /** Several packed batches one after another, e.g. one per adapter in a fused step; labels are not carried. */
    public static PackedBatch concat(List<PackedBatch> parts) {
        if (parts.size() == 1) return parts.get(0);
        int sequences = 0, rows = 0;
        for (PackedBatch p : parts) {
            sequences += p.sequences();
            rows += p.rows();
        }
        int[] starts = new int[sequences + 1], ids = new int[rows], types = new int[rows], positions = new int[rows];
        int s = 0, row = 0;
        for (PackedBatch p : parts) {
            for (int i = 0; i < p.sequences(); i++) starts[s++] = row + p.starts[i];
            System.arraycopy(p.inputIds, 0, ids, row, p.rows());
            System.arraycopy(p.tokenTypeIds, 0, types, row, p.rows());
            System.arraycopy(p.positionIds, 0, positions, row, p.rows());
            row += p.rows();
        }
        starts[sequences] = row;
        return new PackedBatch(starts, ids, types, positions, null);
    }

    /** Fails unless every position is below the model's {@code maxPositions} (named by the config's {@code key}). */
    static void checkPositions(int[] positionIds, int maxPositions, String key) {
        for (int p : positionIds) {
            if (p >= maxPositions) throw new IllegalArgumentException("token position " + p + " exceeds " + key + " " + maxPositions);
        }
    }

    public int sequences() { return starts.length - 1; }

    /** Number of (real) tokens. */
    public int rows() { return starts[starts.length - 1]; }

    public int start(int sequence) { return starts[sequence]; }

    public int length(int sequence) { return starts[sequence + 1] - starts[sequence]; }

    @Override
    public String toString() {
        return "PackedBatch[" + sequences() + " sequences, " + rows() + " tokens, starts " + Arrays.toString(starts) + "]";
    }
}
