package io.lorafleet.nn;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Rotary position embedding (RoFormer, arXiv 2104.09864) in Hugging Face's Llama layout: in every head of width
 * hd, dimension i and dimension i + hd/2 form a pair that is rotated by the angle position · inverseFrequency[i].
 * Applied to q and k, it makes q·k depend on positions only through their difference. A rotation's transpose is
 * the rotation by the opposite angle, which is the backward pass.
 */
public final class RotaryEmbedding {
    private final double[] inverseFrequencies; // [hd/2]

    public RotaryEmbedding(double[] inverseFrequencies) {
        this.inverseFrequencies = inverseFrequencies.clone();
    }

    /** cos and sin of each token's angle for each pair: [N · hd/2], row-major by token. */
    public record Angles(double[] cos, double[] sin, int pairs) {
        int tokens() { return cos.length / pairs; }
    }

    /** The angles of tokens at these positions (one per token row). */
    public Angles angles(int[] positions) {
        int pairs = inverseFrequencies.length;
        double[] cos = new double[positions.length * pairs], sin = new double[cos.length];
        for (int t = 0; t < positions.length; t++) {
            for (int i = 0; i < pairs; i++) {
                double angle = positions[t] * inverseFrequencies[i];
                cos[t * pairs + i] = Math.cos(angle);
                sin[t * pairs + i] = Math.sin(angle);
            }
        }
        return new Angles(cos, sin, pairs);
    }

    /**
     * x [N, heads · hd] → every head's pairs (x₁, x₂) rotated to (x₁·cos − x₂·sin, x₂·cos + x₁·sin); with
     * {@code inverse}, rotated back (the same with −sin), which maps an output gradient to the input's.
     */
    public static INDArray rotate(INDArray x, Angles a, boolean inverse) {
        int n = (int) x.rows(), width = (int) x.columns(), pairs = a.pairs(), hd = 2 * pairs;
        if (n != a.tokens() || width % hd != 0) throw new IllegalArgumentException("rotate: " + n + "×" + width + " for " + a.tokens() + " tokens of head width " + hd);
        double sign = inverse ? -1 : 1;
        if (x.dataType() == DataType.FLOAT) {
            float[] v = x.dup('c').reshape(x.length()).toFloatVector();
            for (int t = 0; t < n; t++) {
                for (int h = t * width; h < (t + 1) * width; h += hd) {
                    for (int i = 0; i < pairs; i++) {
                        double c = a.cos()[t * pairs + i], s = sign * a.sin()[t * pairs + i], x1 = v[h + i], x2 = v[h + i + pairs];
                        v[h + i] = (float) (x1 * c - x2 * s);
                        v[h + i + pairs] = (float) (x2 * c + x1 * s);
                    }
                }
            }
            return Nd4j.createFromArray(v).reshape('c', n, width);
        }
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
}
