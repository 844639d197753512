package io.lorafleet.nn;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

/** y = x / sqrt(mean(x²) + eps) · weight over the last dimension of x [N, d] (Llama's RMSNorm: no mean, no bias). */
public final class RmsNorm {
    private final Param weight; // [d]
    private final double eps;
    private INDArray xhat;      // [N, d] x · rstd
    private INDArray rstd;      // [N, 1]

    public RmsNorm(Param weight, double eps) {
        this.weight = weight;
        this.eps = eps;
    }

    public INDArray forward(INDArray x) {
        long n = x.rows();
        rstd = Transforms.pow(x.mul(x).mean(1).reshape(n, 1).addi(eps), -0.5, false);
        xhat = Broadcasts.columns(Broadcasts.Op.MUL, x, rstd, x.ulike());
        return Broadcasts.rows(Broadcasts.Op.MUL, xhat, weight.value(), xhat.ulike());
    }

    public boolean trainable() { return weight.trainable(); }

    /** dy [N, d] → dx = rstd · (dxhat − xhat · mean(dxhat · xhat)) with dxhat = dy · weight. */
    public INDArray backward(INDArray dy) {
        if (weight.trainable()) weight.grad().addi(dy.mul(xhat).sum(0));
        INDArray dxhat = Broadcasts.rows(Broadcasts.Op.MUL, dy, weight.value(), dy.ulike());
        INDArray meanDxhatXhat = dxhat.mul(xhat).mean(1).reshape(dy.rows(), 1);
        dxhat.subi(Broadcasts.columns(Broadcasts.Op.MUL, xhat, meanDxhatXhat, xhat.ulike()));
        return Broadcasts.columns(Broadcasts.Op.MUL, dxhat, rstd, dxhat);
    }
}
