package io.lorafleet.nn;

import org.nd4j.linalg.api.ndarray.INDArray;

/** Multi-head self-attention with separate q, k, v and output projections (BERT's layout). */
public final class SelfAttention {
    private final Projection query, key, value, output;
    private final AttentionCore core;

    public SelfAttention(Projection query, Projection key, Projection value, Projection output, int heads, boolean causal) {
        this.query = query;
        this.key = key;
        this.value = value;
        this.output = output;
        this.core = new AttentionCore(heads, causal);
    }

    /** x [N, d], the tokens of packed sequences delimited by {@code starts} (see {@link AttentionCore}) → [N, d]. */
    public INDArray forward(INDArray x, int[] starts) {
        INDArray ctx = core.forward(query.forward(x), key.forward(x), value.forward(x), starts);
        return output.forward(ctx);
    }

    /** dy [N, d] → dx [N, d], or null when {@code inputGradient} is false (see {@link Projection#backward}). */
    public INDArray backward(INDArray dy, boolean inputGradient) {
        INDArray[] dqkv = core.backward(output.backward(dy, true));
        INDArray dq = query.backward(dqkv[0], inputGradient);
        INDArray dk = key.backward(dqkv[1], inputGradient);
        INDArray dv = value.backward(dqkv[2], inputGradient);
        return inputGradient ? dq.addi(dk).addi(dv) : null;
    }
}
