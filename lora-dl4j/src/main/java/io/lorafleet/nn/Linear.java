package io.lorafleet.nn;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * y = x·Wᵀ + b with W in PyTorch/HF layout [out, in]. When W is frozen the backward computes only
 * dx = dy·W: no dW is ever computed and no buffer for it exists. Products go into uninitialized buffers
 * (gemm with β = 0 overwrites them); zeroing them first took ~5% of a MiniLM training step (measured).
 */
public final class Linear implements Projection {
    private final Param weight; // [out, in]
    private final Param bias;   // [out], or null
    private INDArray x;         // [N, in], cached only when W is trainable

    public Linear(Param weight, Param bias) {
        if (weight.shape().length != 2) throw new IllegalArgumentException(weight.name() + " must be 2-d, is " + java.util.Arrays.toString(weight.shape()));
        if (bias != null && bias.shape()[0] != weight.shape()[0]) {
            throw new IllegalArgumentException(bias.name() + " has " + bias.shape()[0] + " entries, " + weight.name() + " has " + weight.shape()[0] + " rows");
        }
        this.weight = weight;
        this.bias = bias;
    }

    @Override
    public INDArray forward(INDArray x) {
        INDArray y = Nd4j.createUninitialized(x.dataType(), x.rows(), outFeatures());
        Nd4j.gemm(x, weight.value(), y, false, true, 1.0, 0.0);
        if (bias != null) HeldOps.rows(HeldOps.Op.ADD, y, bias.value(), y);
        this.x = weight.trainable() ? x : null;
        return y;
    }

    @Override
    public INDArray backward(INDArray dy, boolean inputGradient) {
        if (weight.trainable()) Nd4j.gemm(dy, x, weight.grad(), true, false, 1.0, 1.0);
        if (bias != null && bias.trainable()) bias.grad().addi(HeldOps.sum(dy, 0));
        if (!inputGradient) return null;
        INDArray dx = Nd4j.createUninitialized(dy.dataType(), dy.rows(), inFeatures());
        Nd4j.gemm(dy, weight.value(), dx, false, false, 1.0, 0.0);
        return dx;
    }

    /** The weight tensor [out, in]; {@link LoraLinear} merges into it. */
    Param weight() { return weight; }

    /** The bias [out], or null; {@link DoraDelta} rescales the output without it. */
    Param bias() { return bias; }

    /** The current weight values [out, in] (merged ones included). */
    public INDArray weightValue() { return weight.value(); }

    @Override public long inFeatures() { return weight.shape()[1]; }

    @Override public long outFeatures() { return weight.shape()[0]; }
}
