package io.lorafleet.nn;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Erf;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

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
                VectorKernels.geluErf(x, y, slope);
            } else {
                VectorKernels.geluTanh(x, y, slope, C);
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
}
