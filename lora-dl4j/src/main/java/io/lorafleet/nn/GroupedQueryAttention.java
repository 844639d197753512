package io.lorafleet.nn;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Llama's self-attention: q, k, v projections, rotary positions on q and k, and grouped-query attention (GQA,
 * arXiv 2305.13245) — H query heads share H/G key/value heads, each k/v head serving G consecutive query heads, as
 * Hugging Face's repeat_kv does — then the output projection.
 */
public final class GroupedQueryAttention {
    private final Projection query, key, value, output;
    private final int heads, kvHeads, headDim;
    private final AttentionCore core;
    private RotaryEmbedding.Angles angles;

    /** @param window keys a query sees (itself and window − 1 before it), or 0 for all earlier keys */
    public GroupedQueryAttention(Projection query, Projection key, Projection value, Projection output, int heads, int kvHeads, int window) {
        this.headDim = (int) (query.outFeatures() / heads);
        if (query.outFeatures() != (long) heads * headDim || key.outFeatures() != (long) kvHeads * headDim || value.outFeatures() != key.outFeatures()) {
            throw new IllegalArgumentException("q, k, v widths " + query.outFeatures() + ", " + key.outFeatures() + ", " + value.outFeatures()
                    + " do not fit " + heads + " query and " + kvHeads + " key/value heads");
        }
        if (heads % kvHeads != 0) throw new IllegalArgumentException(heads + " query heads are not a multiple of " + kvHeads + " key/value heads");
        this.query = query;
        this.key = key;
        this.value = value;
        this.output = output;
        this.heads = heads;
        this.kvHeads = kvHeads;
        this.core = new AttentionCore(heads, true, window);
    }

    /** x [N, d], the tokens of packed sequences delimited by {@code starts}, with their rotary angles → [N, d]. */
    public INDArray forward(INDArray x, int[] starts, RotaryEmbedding.Angles angles) {
        this.angles = angles;
        INDArray q = RotaryEmbedding.rotate(query.forward(x), angles, false);
        INDArray k = RotaryEmbedding.rotate(key.forward(x), angles, false);
        return output.forward(core.forward(q, repeatHeads(k), repeatHeads(value.forward(x)), starts));
    }

    /** One decoding step: row r of x [B, d] is the newest token of sequence {@code sequences[r]}, at its rotary angle → [B, d]. */
    public INDArray decode(INDArray x, int[] sequences, RotaryEmbedding.Angles angles, KeyValueCache cache) {
        INDArray q = RotaryEmbedding.rotate(query.forward(x), angles, false);
        cache.append(sequences, RotaryEmbedding.rotate(key.forward(x), angles, false), value.forward(x));
        return output.forward(core.decode(q, sequences, cache));
    }

    /** The cache this layer decodes with: its key/value width. */
    public KeyValueCache newCache(int sequences) {
        return new KeyValueCache(sequences, kvHeads * headDim);
    }

    /** dy [N, d] → dx [N, d], or null when {@code inputGradient} is false (see {@link Projection#backward}). */
    public INDArray backward(INDArray dy, boolean inputGradient) {
        INDArray[] dqkv = core.backward(output.backward(dy, true));
        INDArray dq = query.backward(RotaryEmbedding.rotate(dqkv[0], angles, true), inputGradient);
        INDArray dk = key.backward(RotaryEmbedding.rotate(sumGroups(dqkv[1]), angles, true), inputGradient);
        INDArray dv = value.backward(sumGroups(dqkv[2]), inputGradient);
        return inputGradient ? dq.addi(dk).addi(dv) : null;
    }

    /** [N, kvHeads · hd] → [N, heads · hd]: kv head j serves query heads j·G … j·G + G − 1. */
    private INDArray repeatHeads(INDArray kv) {
        int groups = heads / kvHeads;
        if (groups == 1) return kv;
        long n = kv.rows();
        INDArray source = kv.dup('c').reshape('c', n, kvHeads, headDim);
        INDArray repeated = Nd4j.createUninitialized(kv.dataType(), n, kvHeads, groups, headDim);
        for (int g = 0; g < groups; g++) repeated.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(g), NDArrayIndex.all()).assign(source);
        return repeated.reshape('c', n, (long) heads * headDim);
    }

    /** The transpose of {@link #repeatHeads}: each kv head's gradient is the sum over the query heads it served. */
    private INDArray sumGroups(INDArray dRepeated) {
        int groups = heads / kvHeads;
        if (groups == 1) return dRepeated;
        long n = dRepeated.rows();
        return HeldOps.sum(dRepeated.dup('c').reshape('c', n, kvHeads, groups, headDim), 2).reshape('c', n, (long) kvHeads * headDim);
    }
}
