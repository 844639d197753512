package io.lorafleet.nn;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * Llama's gated feed-forward (Shazeer, arXiv 2002.05202): y = down(silu(gate(x)) ⊙ up(x)), with
 * silu(g) = g·σ(g). The three projections are LoRA targets like any other.
 */
public final class SwiGlu {
    private final Projection gate; // d → ffn
    private final Projection up;   // d → ffn
    private final Projection down; // ffn → d
    private INDArray g;            // [N, ffn] gate(x)
    private INDArray sigmoid;      // [N, ffn] σ(g)
    private INDArray u;            // [N, ffn] up(x)

    public SwiGlu(Projection gate, Projection up, Projection down) {
        this.gate = gate;
        this.up = up;
        this.down = down;
    }

    /** x [N, d] → [N, d]. */
    public INDArray forward(INDArray x) {
        g = gate.forward(x);
        u = up.forward(x);
        sigmoid = Transforms.sigmoid(g, true);
        return down.forward(g.mul(sigmoid).muli(u));
    }

    /** dy [N, d] → dx [N, d], or null when {@code inputGradient} is false (see {@link Projection#backward}). */
    public INDArray backward(INDArray dy, boolean inputGradient) {
        INDArray dh = down.backward(dy, true);                                // [N, ffn]
        INDArray du = dh.mul(g).muli(sigmoid);                                // ∂/∂u = silu(g)
        // silu'(g) = σ(g) · (1 + g · (1 − σ(g)))
        INDArray dg = dh.muli(u).muli(sigmoid).muli(sigmoid.rsub(1.0).muli(g).addi(1.0));
        INDArray dxUp = up.backward(du, inputGradient);
        INDArray dxGate = gate.backward(dg, inputGradient);
        return inputGradient ? dxGate.addi(dxUp) : null;
    }
}
