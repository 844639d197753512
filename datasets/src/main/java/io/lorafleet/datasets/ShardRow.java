package io.lorafleet.datasets;

/**
 * One training example in a shard: unpadded token ids (the attention mask is all ones over them), segment
 * ids, the class id (or {@link #NO_LABEL} for a causal LM block), and where it came from.
 *
 * @param rowId position of the row among its adapter's rows of its split, in source order
 */
public record ShardRow(String adapterId, String split, long rowId, int[] inputIds, int[] tokenTypeIds, int label, String source, long line) implements java.io.Serializable {
    public static final int NO_LABEL = -1;

    public ShardRow {
        if (inputIds.length == 0) throw new IllegalArgumentException("a shard row needs at least one token");
        if (tokenTypeIds.length != inputIds.length) throw new IllegalArgumentException("token_type_ids and input_ids differ in length");
    }

    public int length() { return inputIds.length; }

    public ShardRow withRowId(long id) {
        return new ShardRow(adapterId, split, id, inputIds, tokenTypeIds, label, source, line);
    }
}
