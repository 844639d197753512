package io.lorafleet.nn;

import jdk.incubator.vector.FloatVector;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.lang.ref.Reference;
import java.nio.FloatBuffer;

/**
 * Rotary position embedding (RoFormer, arXiv 2104.09864) in Hugging Face's Llama layout: in every head of width
 * hd, dimension i and dimension i + hd/2 form a pair that is rotated by the angle position · inverseFrequency[i].
 * Applied to q and k, it makes q·k depend on positions only through their difference. A rotation's transpose is
 * the rotation by the opposite angle, which is the backward pass.
 */
public final class RotaryEmbedding {
    private final float[] inverseFrequencies; // [hd/2]

    public RotaryEmbedding(float[] inverseFrequencies) {
        this.inverseFrequencies = inverseFrequencies.clone();
    }

    /** cos and sin of each token's angle for each pair: [N · hd/2], row-major by token; float copies for float32 arrays. */
    public record Angles(double[] cos, double[] sin, float[] cosFloat, float[] sinFloat, int pairs) {
        int tokens() { return cos.length / pairs; }
    }

    /** The angles of tokens at these positions (one per token row): position × frequency rounded to float32, as transformers computes it. */
    public Angles angles(int[] positions) {
        int pairs = inverseFrequencies.length;
        double[] cos = new double[positions.length * pairs], sin = new double[cos.length];
        for (int t = 0; t < positions.length; t++) {
            for (int i = 0; i < pairs; i++) {
                double angle = (float) positions[t] * inverseFrequencies[i];
                cos[t * pairs + i] = Math.cos(angle);
                sin[t * pairs + i] = Math.sin(angle);
            }
        }
        float[] cosFloat = new float[cos.length], sinFloat = new float[sin.length];
        for (int i = 0; i < cos.length; i++) {
            cosFloat[i] = (float) cos[i];
            sinFloat[i] = (float) sin[i];
        }
        return new Angles(cos, sin, cosFloat, sinFloat, pairs);
    }

    /**
     * x [N, heads · hd] → every head's pairs (x₁, x₂) rotated to (x₁·cos − x₂·sin, x₂·cos + x₁·sin); with
     * {@code inverse}, rotated back (the same with −sin), which maps an output gradient to the input's.
     */
    public static INDArray rotate(INDArray x, Angles a, boolean inverse) {
        int n = (int) x.rows(), width = (int) x.columns(), pairs = a.pairs(), hd = 2 * pairs;
        if (n != a.tokens() || width % hd != 0) throw new IllegalArgumentException("rotate: " + n + "×" + width + " for " + a.tokens() + " tokens of head width " + hd);
        if (VectorKernels.rowsContiguous(x)) return rotateKernel(x, a, inverse);
        double sign = inverse ? -1 : 1;
        double[] v = x.dup('c').reshape(x.length()).toDoubleVector();
        for (int t = 0; t < n; t++) {
            for (int h = t * width; h < (t + 1) * width; h += hd) {
                for (int i = 0; i < pairs; i++) {
                    double c = a.cos()[t * pairs + i], s = sign * a.sin()[t * pairs + i], x1 = v[h + i], x2 = v[h + i + pairs];
                    v[h + i] = x1 * c - x2 * s;
                    v[h + i + pairs] = x2 * c + x1 * s;
                }
            }
        }
        return Nd4j.createFromArray(v).reshape('c', n, width).castTo(x.dataType());
    }

    /** The float32 path (VectorKernels): the loop above on each row's heap copy, pairs a vector at a time. */
    private static INDArray rotateKernel(INDArray x, Angles a, boolean inverse) {
        int n = (int) x.rows(), width = (int) x.columns(), pairs = a.pairs(), hd = 2 * pairs;
        INDArray y = Nd4j.createUninitialized(DataType.FLOAT, n, width);
        try {
            FloatBuffer in = VectorKernels.floats(x), out = VectorKernels.floats(y);
            long stride = x.stride(0);
            float sign = inverse ? -1f : 1f;
            int bound = VectorKernels.S.loopBound(pairs);
            VectorKernels.parallel(n, (first, end) -> {
                float[] row = new float[width], c = new float[pairs], s = new float[pairs];
                for (int t = first; t < end; t++) {
                    in.get(Math.toIntExact(t * stride), row, 0, width);
                    System.arraycopy(a.cosFloat(), t * pairs, c, 0, pairs);
                    for (int i = 0; i < pairs; i++) s[i] = sign * a.sinFloat()[t * pairs + i];
                    for (int h = 0; h < width; h += hd) {
                        int i = 0;
                        for (; i < bound; i += VectorKernels.S.length()) {
                            FloatVector x1 = FloatVector.fromArray(VectorKernels.S, row, h + i), x2 = FloatVector.fromArray(VectorKernels.S, row, h + pairs + i);
                            FloatVector cv = FloatVector.fromArray(VectorKernels.S, c, i), sv = FloatVector.fromArray(VectorKernels.S, s, i);
                            x1.mul(cv).sub(x2.mul(sv)).intoArray(row, h + i);
                            x2.mul(cv).add(x1.mul(sv)).intoArray(row, h + pairs + i);
                        }
                        for (; i < pairs; i++) {
                            float x1 = row[h + i], x2 = row[h + pairs + i];
                            row[h + i] = x1 * c[i] - x2 * s[i];
                            row[h + pairs + i] = x2 * c[i] + x1 * s[i];
                        }
                    }
                    out.put(t * width, row, 0, width);
                }
            });
        } finally {
            Reference.reachabilityFence(x);
            Reference.reachabilityFence(y);
        }
        return y;
    }
}
