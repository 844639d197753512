package io.lorafleet.nn;

import jdk.incubator.vector.FloatVector;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.lang.ref.Reference;
import java.nio.FloatBuffer;

import static io.lorafleet.nn.VectorKernels.S;
import static io.lorafleet.nn.VectorKernels.exp;
import static io.lorafleet.nn.VectorKernels.floats;
import static io.lorafleet.nn.VectorKernels.parallel;

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
        sigmoid = g.ulike();
        INDArray h = g.ulike();
        if (VectorKernels.applicable(g, u)) {
            forwardKernel(g, u, sigmoid, h);
        } else {
            sigmoid.assign(Transforms.sigmoid(g, true));
            h.assign(g.mul(sigmoid).muli(u));
        }
        return down.forward(h);
    }

    /** dy [N, d] → dx [N, d], or null when {@code inputGradient} is false (see {@link Projection#backward}). */
    public INDArray backward(INDArray dy, boolean inputGradient) {
        INDArray dh = down.backward(dy, true);                                // [N, ffn]
        INDArray du, dg;
        if (VectorKernels.applicable(dh, g, u, sigmoid)) {
            du = dh.ulike();
            dg = dh.ulike();
            backwardKernel(dh, g, u, sigmoid, dg, du);
        } else {
            du = dh.mul(g).muli(sigmoid);                                     // ∂/∂u = silu(g)
            // silu'(g) = σ(g) · (1 + g · (1 − σ(g)))
            dg = dh.muli(u).muli(sigmoid).muli(sigmoid.rsub(1.0).muli(g).addi(1.0));
        }
        INDArray dxUp = up.backward(du, inputGradient);
        INDArray dxGate = gate.backward(dg, inputGradient);
        return inputGradient ? dxGate.addi(dxUp) : null;
    }

    // The float32 fast path (VectorKernels): the formulas above, one pass over heap chunks of the rows.

    private static final int CHUNK = 4096;

    /** s = σ(g) = 1 / (1 + e^{−g}), h = g·s·u. */
    private static void forwardKernel(INDArray g, INDArray u, INDArray s, INDArray h) {
        try {
            FloatBuffer fg = floats(g), fu = floats(u), fs = floats(s), fh = floats(h);
            parallel(Math.toIntExact(g.length()), (first, end) -> {
                float[] gs = new float[CHUNK], us = new float[CHUNK], ss = new float[CHUNK], hs = new float[CHUNK];
                for (int from = first; from < end; from += CHUNK) {
                    int len = Math.min(CHUNK, end - from), i = 0;
                    fg.get(from, gs, 0, len);
                    fu.get(from, us, 0, len);
                    for (int bound = S.loopBound(len); i < bound; i += S.length()) {
                        FloatVector gv = FloatVector.fromArray(S, gs, i);
                        FloatVector sv = FloatVector.broadcast(S, 1f).div(exp(gv.neg()).add(1f));
                        sv.intoArray(ss, i);
                        gv.mul(sv).mul(FloatVector.fromArray(S, us, i)).intoArray(hs, i);
                    }
                    for (; i < len; i++) {
                        ss[i] = 1f / (1f + exp(-gs[i]));
                        hs[i] = gs[i] * ss[i] * us[i];
                    }
                    fs.put(from, ss, 0, len);
                    fh.put(from, hs, 0, len);
                }
            });
        } finally {
            Reference.reachabilityFence(g);
            Reference.reachabilityFence(u);
            Reference.reachabilityFence(s);
            Reference.reachabilityFence(h);
        }
    }

    /** du = dh·g·s, dg = dh·u·s·(1 + g·(1 − s)). */
    private static void backwardKernel(INDArray dh, INDArray g, INDArray u, INDArray s, INDArray dg, INDArray du) {
        try {
            FloatBuffer fd = floats(dh), fg = floats(g), fu = floats(u), fs = floats(s), fdg = floats(dg), fdu = floats(du);
            parallel(Math.toIntExact(dh.length()), (first, end) -> {
                float[] ds = new float[CHUNK], gs = new float[CHUNK], us = new float[CHUNK], ss = new float[CHUNK];
                float[] dgs = new float[CHUNK], dus = new float[CHUNK];
                for (int from = first; from < end; from += CHUNK) {
                    int len = Math.min(CHUNK, end - from), i = 0;
                    fd.get(from, ds, 0, len);
                    fg.get(from, gs, 0, len);
                    fu.get(from, us, 0, len);
                    fs.get(from, ss, 0, len);
                    for (int bound = S.loopBound(len); i < bound; i += S.length()) {
                        FloatVector d = FloatVector.fromArray(S, ds, i), gv = FloatVector.fromArray(S, gs, i), sv = FloatVector.fromArray(S, ss, i);
                        FloatVector ds_ = d.mul(sv);
                        ds_.mul(gv).intoArray(dus, i);
                        FloatVector slope = sv.neg().add(1f).mul(gv).add(1f);
                        ds_.mul(FloatVector.fromArray(S, us, i)).mul(slope).intoArray(dgs, i);
                    }
                    for (; i < len; i++) {
                        float d = ds[i] * ss[i];
                        dus[i] = d * gs[i];
                        dgs[i] = d * us[i] * (1f + gs[i] * (1f - ss[i]));
                    }
                    fdg.put(from, dgs, 0, len);
                    fdu.put(from, dus, 0, len);
                }
            });
        } finally {
            Reference.reachabilityFence(dh);
            Reference.reachabilityFence(g);
            Reference.reachabilityFence(u);
            Reference.reachabilityFence(s);
            Reference.reachabilityFence(dg);
            Reference.reachabilityFence(du);
        }
    }
}
