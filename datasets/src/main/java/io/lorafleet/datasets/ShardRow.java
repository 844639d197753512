package io.lorafleet.datasets;

/**
 * One training example in a shard: unpadded token ids (the attention mask is all ones over them), segment
 * ids, the class id (or {@link #NO_LABEL} for a causal LM block), and where it came from.
 *
 * @param rowId      position of the row among its adapter's rows of its split, in source order
 * @param lossSpans  for a language model, the tokens it learns to predict: pairs [from, to) of positions (an
 *                   instruction row's response); null for every token (or for a classifier)
 */
public record ShardRow(String adapterId, String split, long rowId, int[] inputIds, int[] tokenTypeIds, int label, String source, long line,
                       int[] lossSpans) implements java.io.Serializable {
    public static final int NO_LABEL = -1;

    public ShardRow {
        if (inputIds.length == 0) throw new IllegalArgumentException("a shard row needs at least one token");
        if (tokenTypeIds.length != inputIds.length) throw new IllegalArgumentException("token_type_ids and input_ids differ in length");
        if (lossSpans != null) {
            if (lossSpans.length % 2 != 0) throw new IllegalArgumentException("loss_spans holds pairs, has " + lossSpans.length + " values");
            for (int i = 0; i < lossSpans.length; i += 2) {
                if (lossSpans[i] < (i == 0 ? 0 : lossSpans[i - 1]) || lossSpans[i + 1] <= lossSpans[i] || lossSpans[i + 1] > inputIds.length) {
                    throw new IllegalArgumentException("loss span [" + lossSpans[i] + ", " + lossSpans[i + 1] + ") is empty, out of order or beyond the "
                            + inputIds.length + " tokens");
                }
            }
        }
    }

    /** A row whose every token is learned (or a classifier's). */
    public ShardRow(String adapterId, String split, long rowId, int[] inputIds, int[] tokenTypeIds, int label, String source, long line) {
        this(adapterId, split, rowId, inputIds, tokenTypeIds, label, source, line, null);
    }

    /** The tokens a language model's loss counts: every learned token but the first (nothing before it predicts it). */
    public int predictedTokens() {
        int n = 0;
        for (int position = 1; position < inputIds.length; position++) if (learned(position)) n++;
        return n;
    }

    /** Whether a language model learns to predict token {@code position}. */
    public boolean learned(int position) {
        if (lossSpans == null) return true;
        for (int i = 0; i < lossSpans.length; i += 2) if (position >= lossSpans[i] && position < lossSpans[i + 1]) return true;
        return false;
    }

    public int length() { return inputIds.length; }

    public ShardRow withRowId(long id) {
        return new ShardRow(adapterId, split, id, inputIds, tokenTypeIds, label, source, line, lossSpans);
    }
}
