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
        rstd = Transforms.pow(HeldOps.mean(x.mul(x), 1).reshape(n, 1).addi(eps), -0.5, false);
        xhat = HeldOps.columns(HeldOps.Op.MUL, x, rstd, x.ulike());
        return HeldOps.rows(HeldOps.Op.MUL, xhat, weight.value(), xhat.ulike());
    }

    public boolean trainable() { return weight.trainable(); }

    /** dy [N, d] → dx = rstd · (dxhat − xhat · mean(dxhat · xhat)) with dxhat = dy · weight. */
    public INDArray backward(INDArray dy) {
        if (weight.trainable()) weight.grad().addi(HeldOps.sum(dy.mul(xhat), 0));
        INDArray dxhat = HeldOps.rows(HeldOps.Op.MUL, dy, weight.value(), dy.ulike());
        INDArray meanDxhatXhat = HeldOps.mean(dxhat.mul(xhat), 1).reshape(dy.rows(), 1);
        dxhat.subi(HeldOps.columns(HeldOps.Op.MUL, xhat, meanDxhatXhat, xhat.ulike()));
        return HeldOps.columns(HeldOps.Op.MUL, dxhat, rstd, dxhat);
    }
}
