package io.lorafleet.model;

/**
 * B sequences of T tokens, row-major (token t of sequence b at b·T + t): the padded form in which batches
 * arrive. The model packs it ({@link PackedBatch}) and never computes on the padding.
 *
 * @param inputIds      [B·T] token ids, padding included
 * @param tokenTypeIds  [B·T] segment ids, or null for all zeros
 * @param attentionMask [B·T] 1 for real tokens, 0 for padding
 * @param labels        [B] class ids for classification, or [B·T] token targets for a causal LM
 *                      (ignored positions = SoftmaxCrossEntropy.IGNORE_INDEX); may be null for inference
 */
public record TokenBatch(int batchSize, int seqLen, int[] inputIds, int[] tokenTypeIds, int[] attentionMask, int[] labels) {
    public TokenBatch {
        int n = batchSize * seqLen;
        if (batchSize <= 0 || seqLen <= 0) throw new IllegalArgumentException("empty batch " + batchSize + "x" + seqLen);
        if (inputIds.length != n) throw new IllegalArgumentException("input_ids has " + inputIds.length + " entries, expected " + n);
        if (tokenTypeIds != null && tokenTypeIds.length != n) throw new IllegalArgumentException("token_type_ids has " + tokenTypeIds.length + " entries, expected " + n);
        if (attentionMask.length != n) throw new IllegalArgumentException("attention_mask has " + attentionMask.length + " entries, expected " + n);
        for (int i = 0; i < n; i++) {
            if (attentionMask[i] != 0 && attentionMask[i] != 1) {
                throw new IllegalArgumentException("attention_mask[" + i + "] is " + attentionMask[i] + ", must be 0 or 1");
            }
        }
    }

    public int rows() { return batchSize * seqLen; }

    /** Sequences [from, to) as a batch of their own (a micro-batch), labels included. */
    public TokenBatch sequences(int from, int to) {
        if (from < 0 || to > batchSize || from >= to) throw new IllegalArgumentException("sequences [" + from + ", " + to + ") of " + batchSize);
        if (labels != null && labels.length != batchSize && labels.length != rows()) {
            throw new IllegalArgumentException(labels.length + " labels for " + batchSize + " sequences of " + seqLen + " (one per sequence or per token)");
        }
        int perSequence = labels == null ? 0 : labels.length / batchSize;
        return new TokenBatch(to - from, seqLen, slice(inputIds, from, to, seqLen), tokenTypeIds == null ? null : slice(tokenTypeIds, from, to, seqLen),
                slice(attentionMask, from, to, seqLen), labels == null ? null : slice(labels, from, to, perSequence));
    }

    private static int[] slice(int[] values, int from, int to, int perSequence) {
        return java.util.Arrays.copyOfRange(values, from * perSequence, to * perSequence);
    }

    /** Real tokens of sequence b. */
    public int length(int b) {
        int length = 0;
        for (int t = 0; t < seqLen; t++) length += attentionMask[b * seqLen + t];
        return length;
    }

    /** Σ over sequences of (real tokens)²: what attention's probabilities grow with. */
    public long squaredLengths() {
        long sum = 0;
        for (int b = 0; b < batchSize; b++) sum += (long) length(b) * length(b);
        return sum;
    }

    /** Number of real (non-padding) tokens. */
    public long tokens() {
        long c = 0;
        for (int m : attentionMask) c += m;
        return c;
    }
}
