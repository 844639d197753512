package io.lorafleet.nn;

import jdk.incubator.vector.FloatVector;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Erf;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.lang.ref.Reference;
import java.nio.FloatBuffer;

import static io.lorafleet.nn.VectorKernels.S;
import static io.lorafleet.nn.VectorKernels.exp;
import static io.lorafleet.nn.VectorKernels.floats;
import static io.lorafleet.nn.VectorKernels.parallel;
import static io.lorafleet.nn.VectorKernels.tanh;

/**
 * GELU in the exact form x·Φ(x) = 0.5·x·(1 + erf(x/√2)) (BERT's "gelu"), or the tanh approximation
 * 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (GPT-2's "gelu_new").
 */
public final class Gelu {
    public enum Form { ERF, TANH }

    private static final double SQRT_2_OVER_PI = Math.sqrt(2.0 / Math.PI);
    private static final double C = 0.044715;
    private final Form form;
    private INDArray slope;    // [N, d]  dy/dx, computed by the forward for the backward

    public Gelu(Form form) {
        this.form = form;
    }

    public INDArray forward(INDArray x) {
        if (VectorKernels.applicable(x)) {
            INDArray y = x.ulike();
            slope = x.ulike();
            if (form == Form.ERF) {
                erfKernel(x, y, slope);
            } else {
                tanhKernel(x, y, slope, C);
            }
            return y;
        }
        INDArray cdf;
        if (form == Form.ERF) {
            // Φ(x) = (1 + erf(x/√2))/2; d/dx x·Φ(x) = Φ(x) + x·φ(x), φ(x) = exp(−x²/2)/√(2π)
            cdf = x.mul(1.0 / Math.sqrt(2.0));
            Nd4j.exec(new Erf(cdf, cdf));
            cdf.addi(1.0).muli(0.5);
            INDArray pdf = Transforms.exp(x.mul(x).muli(-0.5), false).muli(1.0 / Math.sqrt(2 * Math.PI));
            slope = pdf.muli(x).addi(cdf);
        } else {
            // t = tanh(u), u = √(2/π)(x + c·x³): d/dx = (1+t)/2 + x·(1−t²)/2·√(2/π)(1 + 3c·x²)
            INDArray t = Transforms.tanh(x.mul(x).muli(C).addi(1.0).muli(x).muli(SQRT_2_OVER_PI), false);
            cdf = t.add(1.0).muli(0.5);
            INDArray du = x.mul(x).muli(3 * C).addi(1.0).muli(SQRT_2_OVER_PI);
            slope = t.muli(t).rsubi(1.0).muli(du).muli(x).muli(0.5).addi(cdf);
        }
        return x.mul(cdf);
    }

    public INDArray backward(INDArray dy) {
        return dy.mul(slope);
    }

    // The float32 fast path (VectorKernels): the formulas above, fused into one pass over heap copies of the rows.

    // Abramowitz & Stegun 7.1.26: erf(u) = 1 − t·(a1 + t·(a2 + t·(a3 + t·(a4 + t·a5))))·exp(−u²), t = 1/(1 + p·u),
    // u ≥ 0, absolute error ≤ 1.5e-7 — float32's own resolution near 1. Its exp(−u²) at u = x/√2 is also
    // what φ(x) needs, so one exp serves both.
    private static final float P = 0.3275911f, A1 = 0.254829592f, A2 = -0.284496736f, A3 = 1.421413741f,
            A4 = -1.453152027f, A5 = 1.061405429f;
    /** Elementwise kernels work through heap chunks of this many floats (bulk copies in and out). */
    private static final int CHUNK = 4096;

    /** One chunk of an elementwise kernel: from xs[0, len) writes ys and ss. */
    private interface Chunk {
        void apply(float[] xs, float[] ys, float[] ss, int len);
    }

    /** Runs an elementwise kernel x → (y, slope) over heap chunks: bulk copies in and out, split over threads. */
    private static void elementwise(INDArray x, INDArray y, INDArray slope, Chunk chunk) {
        try {
            FloatBuffer fx = floats(x), fy = floats(y), fs = floats(slope);
            parallel(Math.toIntExact(x.length()), (first, end) -> {
                float[] xs = new float[CHUNK], ys = new float[CHUNK], ss = new float[CHUNK];
                for (int from = first; from < end; from += CHUNK) {
                    int len = Math.min(CHUNK, end - from);
                    fx.get(from, xs, 0, len);
                    chunk.apply(xs, ys, ss, len);
                    fy.put(from, ys, 0, len);
                    fs.put(from, ss, 0, len);
                }
            });
        } finally {
            Reference.reachabilityFence(x);
            Reference.reachabilityFence(y);
            Reference.reachabilityFence(slope);
        }
    }

    /** GELU, exact form: writes y = x·Φ(x) and slope = dy/dx = Φ(x) + x·φ(x), φ(x) = exp(−x²/2)/√(2π). */
    private static void erfKernel(INDArray x, INDArray y, INDArray slope) {
        float invSqrt2 = (float) (1 / Math.sqrt(2)), invSqrt2Pi = (float) (1 / Math.sqrt(2 * Math.PI));
        elementwise(x, y, slope, (xs, ys, ss, len) -> {
            int i = 0;
            for (int bound = S.loopBound(len); i < bound; i += S.length()) {
                FloatVector xv = FloatVector.fromArray(S, xs, i);
                FloatVector g = exp(xv.mul(xv).mul(-0.5f));                                       // exp(−x²/2)
                FloatVector t = FloatVector.broadcast(S, 1f).div(xv.abs().mul(invSqrt2 * P).add(1f));
                FloatVector poly = t.mul(A5).add(A4).mul(t).add(A3).mul(t).add(A2).mul(t).add(A1).mul(t);
                FloatVector erfAbs = poly.mul(g).neg().add(1f);
                FloatVector erf = erfAbs.blend(erfAbs.neg(), xv.lt(0f));
                FloatVector cdf = erf.add(1f).mul(0.5f);
                xv.mul(cdf).intoArray(ys, i);
                xv.mul(g).mul(invSqrt2Pi).add(cdf).intoArray(ss, i);
            }
            for (; i < len; i++) {
                float xi = xs[i];
                float g = exp(xi * xi * -0.5f);
                float t = 1f / (1f + P * Math.abs(xi) * invSqrt2);
                float erfAbs = 1f - t * (A1 + t * (A2 + t * (A3 + t * (A4 + t * A5)))) * g;
                float cdf = 0.5f * (1 + Math.copySign(erfAbs, xi));
                ys[i] = xi * cdf;
                ss[i] = cdf + xi * g * invSqrt2Pi;
            }
        });
    }

    /**
     * GELU, tanh form: with u = √(2/π)(x + c·x³) and t = tanh(u), writes y = x·(1+t)/2 and
     * slope = (1+t)/2 + x·(1−t²)/2·√(2/π)(1 + 3c·x²).
     */
    private static void tanhKernel(INDArray x, INDArray y, INDArray slope, double c) {
        float k = (float) Math.sqrt(2 / Math.PI), cf = (float) c;
        elementwise(x, y, slope, (xs, ys, ss, len) -> {
            int i = 0;
            for (int bound = S.loopBound(len); i < bound; i += S.length()) {
                FloatVector xv = FloatVector.fromArray(S, xs, i);
                FloatVector x2 = xv.mul(xv);
                FloatVector t = tanh(x2.mul(cf).add(1f).mul(xv).mul(k));
                FloatVector half = t.add(1f).mul(0.5f);
                xv.mul(half).intoArray(ys, i);
                FloatVector du = x2.mul(3 * cf).add(1f).mul(k);
                t.mul(t).neg().add(1f).mul(0.5f).mul(xv).fma(du, half).intoArray(ss, i);
            }
            for (; i < len; i++) {
                float xi = xs[i];
                float t = tanh((xi * xi * cf + 1f) * xi * k);
                float half = 0.5f * (1 + t);
                ys[i] = xi * half;
                ss[i] = Math.fma((1 - t * t) * 0.5f * xi, (xi * xi * (3 * cf) + 1f) * k, half);
            }
        });
    }
}
