package io.lorafleet.nn;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/** Multi-head self-attention whose q, k, v come from one projection d → 3d (GPT-2's c_attn). */
public final class FusedSelfAttention {
    private final Projection qkv;
    private final Projection output;
    private final AttentionCore core;

    public FusedSelfAttention(Projection qkv, Projection output, int heads, boolean causal) {
        if (qkv.outFeatures() != 3 * qkv.inFeatures()) {
            throw new IllegalArgumentException("fused qkv projection must map d to 3d, maps " + qkv.inFeatures() + " to " + qkv.outFeatures());
        }
        this.qkv = qkv;
        this.output = output;
        this.core = new AttentionCore(heads, causal);
    }

    /** x [N, d], the tokens of packed sequences delimited by {@code starts} (see {@link AttentionCore}) → [N, d]. */
    public INDArray forward(INDArray x, int[] starts) {
        INDArray y = qkv.forward(x);
        long d = x.columns();
        INDArray ctx = core.forward(columns(y, 0, d), columns(y, d, 2 * d), columns(y, 2 * d, 3 * d), starts);
        return output.forward(ctx);
    }

    /** One decoding step: row r of x [B, d] is the newest token of sequence {@code sequences[r]} → [B, d]. */
    public INDArray decode(INDArray x, int[] sequences, KeyValueCache cache) {
        INDArray y = qkv.forward(x);
        long d = x.columns();
        cache.append(sequences, columns(y, d, 2 * d), columns(y, 2 * d, 3 * d));
        return output.forward(core.decode(columns(y, 0, d), sequences, cache));
    }

    public KeyValueCache newCache(int sequences) {
        return new KeyValueCache(sequences, (int) qkv.inFeatures());
    }

    /** dy [N, d] → dx [N, d], or null when {@code inputGradient} is false (see {@link Projection#backward}). */
    public INDArray backward(INDArray dy, boolean inputGradient) {
        INDArray[] dqkv = core.backward(output.backward(dy, true));
        return qkv.backward(Nd4j.hstack(dqkv), inputGradient);
    }

    private static INDArray columns(INDArray y, long from, long to) {
        return y.get(NDArrayIndex.all(), NDArrayIndex.interval(from, to));
    }
}
