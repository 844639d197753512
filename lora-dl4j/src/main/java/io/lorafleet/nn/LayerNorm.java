package io.lorafleet.nn;

import jdk.incubator.vector.FloatVector;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.lang.ref.Reference;
import java.nio.FloatBuffer;

import static io.lorafleet.nn.VectorKernels.S;
import static io.lorafleet.nn.VectorKernels.floats;
import static io.lorafleet.nn.VectorKernels.parallel;
import static io.lorafleet.nn.VectorKernels.sumLanes;

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
            forwardKernel(x, gamma.value(), beta.value(), eps, xhat, rstd, y);
            return y;
        }
        INDArray mean = HeldOps.mean(x, 1).reshape(n, 1);
        xhat = HeldOps.columns(HeldOps.Op.SUB, x, mean, x.ulike());
        INDArray var = HeldOps.mean(xhat.mul(xhat), 1).reshape(n, 1);
        rstd = Transforms.pow(var.addi(eps), -0.5, false);
        HeldOps.columns(HeldOps.Op.MUL, xhat, rstd, xhat);
        INDArray y = HeldOps.rows(HeldOps.Op.MUL, xhat, gamma.value(), xhat.ulike());
        return HeldOps.rows(HeldOps.Op.ADD, y, beta.value(), y);
    }

    public boolean trainable() { return gamma.trainable() || beta.trainable(); }

    public INDArray backward(INDArray dy) {
        long n = dy.rows();
        if (VectorKernels.applicable(dy, xhat, gamma.value())) {
            INDArray dx = dy.ulike();
            backwardKernel(dy, xhat, rstd, gamma.value(), dx,
                    gamma.trainable() ? gamma.grad() : null, beta.trainable() ? beta.grad() : null);
            return dx;
        }
        if (gamma.trainable()) gamma.grad().addi(HeldOps.sum(dy.mul(xhat), 0));
        if (beta.trainable()) beta.grad().addi(HeldOps.sum(dy, 0));
        INDArray dxhat = HeldOps.rows(HeldOps.Op.MUL, dy, gamma.value(), dy.ulike());
        INDArray meanDxhat = HeldOps.mean(dxhat, 1).reshape(n, 1);
        INDArray meanDxhatXhat = HeldOps.mean(dxhat.mul(xhat), 1).reshape(n, 1);
        // dx = rstd · (dxhat − mean(dxhat) − xhat · mean(dxhat · xhat))
        HeldOps.columns(HeldOps.Op.SUB, dxhat, meanDxhat, dxhat);
        dxhat.subi(HeldOps.columns(HeldOps.Op.MUL, xhat, meanDxhatXhat, xhat.ulike()));
        return HeldOps.columns(HeldOps.Op.MUL, dxhat, rstd, dxhat);
    }

    // The float32 fast path (VectorKernels): the formulas above, fused into one pass over heap copies of the rows.

    /** LayerNorm over rows of x [N, d]: writes xhat = (x − mean)·rstd, rstd [N] and y = xhat·gamma + beta. */
    private static void forwardKernel(INDArray x, INDArray gamma, INDArray beta, double eps, INDArray xhat, INDArray rstd, INDArray y) {
        try {
            int n = (int) x.size(0), d = (int) x.size(1);
            FloatBuffer fx = floats(x), fh = floats(xhat), fr = floats(rstd), fy = floats(y);
            float[] g = new float[d], bt = new float[d];
            floats(gamma).get(0, g, 0, d);
            floats(beta).get(0, bt, 0, d);
            int bound = S.loopBound(d);
            parallel(n, (first, end) -> {
                float[] row = new float[d], h = new float[d], out = new float[d], scratch = new float[S.length()];
                for (int r = first; r < end; r++) {
                    fx.get(r * d, row, 0, d);
                    FloatVector acc = FloatVector.zero(S);
                    int j = 0;
                    for (; j < bound; j += S.length()) acc = acc.add(FloatVector.fromArray(S, row, j));
                    float sum = sumLanes(acc, scratch);
                    for (; j < d; j++) sum += row[j];
                    float mean = sum / d;
                    acc = FloatVector.zero(S);
                    for (j = 0; j < bound; j += S.length()) {
                        FloatVector c = FloatVector.fromArray(S, row, j).sub(mean);
                        acc = c.fma(c, acc);
                    }
                    float sq = sumLanes(acc, scratch);
                    for (; j < d; j++) {
                        float c = row[j] - mean;
                        sq += c * c;
                    }
                    float rs = (float) (1 / Math.sqrt(sq / d + eps));
                    fr.put(r, rs);
                    for (j = 0; j < bound; j += S.length()) {
                        FloatVector hv = FloatVector.fromArray(S, row, j).sub(mean).mul(rs);
                        hv.intoArray(h, j);
                        hv.fma(FloatVector.fromArray(S, g, j), FloatVector.fromArray(S, bt, j)).intoArray(out, j);
                    }
                    for (; j < d; j++) {
                        h[j] = (row[j] - mean) * rs;
                        out[j] = Math.fma(h[j], g[j], bt[j]);
                    }
                    fh.put(r * d, h, 0, d);
                    fy.put(r * d, out, 0, d);
                }
            });
        } finally {
            Reference.reachabilityFence(x);
            Reference.reachabilityFence(gamma);
            Reference.reachabilityFence(beta);
            Reference.reachabilityFence(xhat);
            Reference.reachabilityFence(rstd);
            Reference.reachabilityFence(y);
        }
    }

    /**
     * LayerNorm backward: dx = rstd·(dxhat − mean(dxhat) − xhat·mean(dxhat·xhat)) with dxhat = dy·gamma;
     * adds Σ dy·xhat into dgamma and Σ dy into dbeta when those are not null.
     */
    private static void backwardKernel(INDArray dy, INDArray xhat, INDArray rstd, INDArray gamma, INDArray dx, INDArray dgamma, INDArray dbeta) {
        try {
            int n = (int) dy.size(0), d = (int) dy.size(1);
            FloatBuffer fd = floats(dy), fh = floats(xhat), fr = floats(rstd), fx = floats(dx);
            float[] g = new float[d];
            floats(gamma).get(0, g, 0, d);
            int bound = S.loopBound(d);
            parallel(n, (first, end) -> {
                float[] dyRow = new float[d], h = new float[d], out = new float[d], scratch = new float[S.length()];
                for (int r = first; r < end; r++) {
                    fd.get(r * d, dyRow, 0, d);
                    fh.get(r * d, h, 0, d);
                    FloatVector accG = FloatVector.zero(S), accGH = FloatVector.zero(S);
                    int j = 0;
                    for (; j < bound; j += S.length()) {
                        FloatVector gv = FloatVector.fromArray(S, dyRow, j).mul(FloatVector.fromArray(S, g, j));
                        accG = accG.add(gv);
                        accGH = gv.fma(FloatVector.fromArray(S, h, j), accGH);
                    }
                    float sumG = sumLanes(accG, scratch), sumGH = sumLanes(accGH, scratch);
                    for (; j < d; j++) {
                        float gj = dyRow[j] * g[j];
                        sumG += gj;
                        sumGH += gj * h[j];
                    }
                    float meanG = sumG / d, meanGH = sumGH / d, rs = fr.get(r);
                    for (j = 0; j < bound; j += S.length()) {
                        FloatVector hv = FloatVector.fromArray(S, h, j);
                        FloatVector gv = FloatVector.fromArray(S, dyRow, j).mul(FloatVector.fromArray(S, g, j));
                        gv.sub(meanG).sub(hv.mul(meanGH)).mul(rs).intoArray(out, j);
                    }
                    for (; j < d; j++) out[j] = rs * (dyRow[j] * g[j] - meanG - h[j] * meanGH);
                    fx.put(r * d, out, 0, d);
                }
            });
            if (dgamma == null && dbeta == null) return;
            // the parameter gradients sum over rows: one thread, in row order, so the sum does not depend on the split
            float[] dGamma = dgamma == null ? null : new float[d], dBeta = dbeta == null ? null : new float[d];
            float[] dyRow = new float[d], h = new float[d];
            for (int r = 0; r < n; r++) {
                fd.get(r * d, dyRow, 0, d);
                fh.get(r * d, h, 0, d);
                for (int j = 0; j < d; j++) {
                    if (dGamma != null) dGamma[j] += dyRow[j] * h[j];
                    if (dBeta != null) dBeta[j] += dyRow[j];
                }
            }
            if (dGamma != null) dgamma.addi(org.nd4j.linalg.factory.Nd4j.createFromArray(dGamma));
            if (dBeta != null) dbeta.addi(org.nd4j.linalg.factory.Nd4j.createFromArray(dBeta));
        } finally {
            Reference.reachabilityFence(dy);
            Reference.reachabilityFence(xhat);
            Reference.reachabilityFence(rstd);
            Reference.reachabilityFence(gamma);
            Reference.reachabilityFence(dx);
            Reference.reachabilityFence(dgamma);
            Reference.reachabilityFence(dbeta);
        }
    }
}
