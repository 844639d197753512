package io.lorafleet.nn;

import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * y = x·Wᵀ + b with W in PyTorch/HF layout [out, in]. When W is frozen the backward computes only
 * dx = dy·W: no dW is ever computed and no buffer for it exists. Products go into uninitialized buffers
 * (gemm with β = 0 overwrites them); zeroing them first took ~5% of a MiniLM training step (measured).
 *
 * <p>A frozen W may be int8 with a float scale per output row (W = q·s, symmetric, as a quantized ONNX export stores
 * it): each product widens q to float for the call only, outside the step's workspace, and scales the rows after, so
 * a model holds its projections in a quarter of the bytes.
 */
public final class Linear implements Projection {
    private final Param weight; // [out, in]: float, or int8 when scale is given
    private final INDArray scale; // [out] for an int8 W, else null
    private final Param bias;   // [out], or null
    private INDArray x;         // [N, in], cached only when W is trainable

    public Linear(Param weight, Param bias) {
        this(weight, null, bias);
    }

    public Linear(Param weight, INDArray scale, Param bias) {
        if (weight.shape().length != 2) throw new IllegalArgumentException(weight.name() + " must be 2-d, is " + java.util.Arrays.toString(weight.shape()));
        if (bias != null && bias.shape()[0] != weight.shape()[0]) {
            throw new IllegalArgumentException(bias.name() + " has " + bias.shape()[0] + " entries, " + weight.name() + " has " + weight.shape()[0] + " rows");
        }
        if (scale != null && (weight.trainable() || scale.length() != weight.shape()[0])) {
            throw new IllegalArgumentException(weight.name() + ": an int8 weight is frozen and has one scale per row, got " + scale.length());
        }
        this.weight = weight;
        this.scale = scale;
        this.bias = bias;
    }

    @Override
    public INDArray forward(INDArray x) {
        INDArray y = product(x);
        if (bias != null) HeldOps.rows(HeldOps.Op.ADD, y, bias.value(), y);
        this.x = weight.trainable() ? x : null;
        return y;
    }

    @Override
    public INDArray backward(INDArray dy, boolean inputGradient) {
        if (weight.trainable()) Nd4j.gemm(dy, x, weight.grad(), true, false, 1.0, 1.0);
        if (bias != null && bias.trainable()) bias.grad().addi(HeldOps.sum(dy, 0));
        return inputGradient ? inputGradient(dy) : null;
    }

    /** x [N, in] → x·Wᵀ [N, out], without the bias. */
    public INDArray product(INDArray x) {
        INDArray y = Nd4j.createUninitialized(x.dataType(), x.rows(), outFeatures());
        if (scale == null) {
            Nd4j.gemm(x, weight.value(), y, false, true, 1.0, 0.0);
            return y;
        }
        timesWidened(x, y, true);
        return HeldOps.rows(HeldOps.Op.MUL, y, scale.castTo(x.dataType()), y);
    }

    /** dy [N, out] → dy·W [N, in]. */
    public INDArray inputGradient(INDArray dy) {
        INDArray dx = Nd4j.createUninitialized(dy.dataType(), dy.rows(), inFeatures());
        if (scale == null) {
            Nd4j.gemm(dy, weight.value(), dx, false, false, 1.0, 0.0);
            return dx;
        }
        timesWidened(HeldOps.rows(HeldOps.Op.MUL, dy, scale.castTo(dy.dataType()), Nd4j.createUninitialized(dy.dataType(), dy.rows(), dy.columns())),
                dx, false);
        return dx;
    }

    /** out = m·qᵀ (or m·q) with the int8 q widened to m's type for this product only, outside the step's workspace. */
    private void timesWidened(INDArray m, INDArray out, boolean transposeQ) {
        try (MemoryWorkspace outside = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces(); INDArray widened = weight.value().castTo(m.dataType())) {
            Nd4j.gemm(m, widened, out, false, transposeQ, 1.0, 0.0);
        }
    }

    /** The weight tensor [out, in]; {@link LoraLinear} merges into it. */
    Param weight() { return weight; }

    /** The bias [out], or null; {@link DoraDelta} rescales the output without it. */
    Param bias() { return bias; }

    /** Whether W is int8: it cannot take a merged adapter. */
    public boolean quantized() { return scale != null; }

    /** The current weight values [out, in] (merged ones included), widened to float (a copy) when W is int8. */
    public INDArray weightValue() {
        if (scale == null) return weight.value();
        INDArray w = weight.value().castTo(scale.dataType());
        return HeldOps.columns(HeldOps.Op.MUL, w, scale, w);
    }

    @Override public long inFeatures() { return weight.shape()[1]; }

    @Override public long outFeatures() { return weight.shape()[0]; }
}
