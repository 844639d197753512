package io.lorafleet.nn;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/** y = (x − mean) / sqrt(var + eps) · gamma + beta over the last dimension of x [N, d]. */
public final class LayerNorm {
    private final Param gamma; // [d]
    private final Param beta;  // [d]
    private final double eps;
    private INDArray xhat;     // [N, d]
    private INDArray rstd;     // [N, 1]

    public LayerNorm(Param gamma, Param beta, double eps) {
        this.gamma = gamma;
        this.beta = beta;
        this.eps = eps;
    }

    public INDArray forward(INDArray x) {
        long n = x.rows();
        if (VectorKernels.applicable(x, gamma.value(), beta.value())) {
            xhat = x.ulike();
            rstd = Nd4j.create(x.dataType(), n, 1);
            INDArray y = x.ulike();
            VectorKernels.layerNormForward(x, gamma.value(), beta.value(), eps, xhat, rstd, y);
            return y;
        }
        INDArray mean = x.mean(1).reshape(n, 1);
        xhat = x.subColumnVector(mean);
        INDArray var = xhat.mul(xhat).mean(1).reshape(n, 1);
        rstd = Transforms.pow(var.addi(eps), -0.5, false);
        xhat.muliColumnVector(rstd);
        return xhat.mulRowVector(gamma.value()).addiRowVector(beta.value());
    }

    public boolean trainable() { return gamma.trainable() || beta.trainable(); }

    public INDArray backward(INDArray dy) {
        long n = dy.rows();
        if (VectorKernels.applicable(dy, xhat, gamma.value())) {
            INDArray dx = dy.ulike();
            VectorKernels.layerNormBackward(dy, xhat, rstd, gamma.value(), dx,
                    gamma.trainable() ? gamma.grad() : null, beta.trainable() ? beta.grad() : null);
            return dx;
        }
        if (gamma.trainable()) gamma.grad().addi(dy.mul(xhat).sum(0));
        if (beta.trainable()) beta.grad().addi(dy.sum(0));
        INDArray dxhat = dy.mulRowVector(gamma.value());
        INDArray meanDxhat = dxhat.mean(1).reshape(n, 1);
        INDArray meanDxhatXhat = dxhat.mul(xhat).mean(1).reshape(n, 1);
        // dx = rstd · (dxhat − mean(dxhat) − xhat · mean(dxhat · xhat))
        return dxhat.subiColumnVector(meanDxhat)
                .subi(xhat.mulColumnVector(meanDxhatXhat))
                .muliColumnVector(rstd);
    }
}
