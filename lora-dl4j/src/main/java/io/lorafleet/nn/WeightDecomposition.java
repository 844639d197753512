package io.lorafleet.nn;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * Where PiSSA and OLoRA start an adapter: from a rank-r part of the pretrained W [out, in] itself, which is then taken
 * out of the base ({@link LoraDelta}'s starting part), instead of from B = 0. Both follow PEFT 0.21's
 * {@code init_lora_weights} exactly (up to the signs of singular vectors, which cancel in B·A), computed in float64
 * with LAPACK through ND4J from a thin QR (so that a 8,960 × 1,536 W never makes an 8,960² factor).
 */
public final class WeightDecomposition {
    /** A starting A [r, in] and B [out, r]. */
    public record Part(INDArray a, INDArray b) { }

    private WeightDecomposition() { }

    /**
     * PiSSA (Meng et al. 2024, arXiv 2404.02948; {@code "pissa"}): with W = V·S·Uh, A = √(S_r / s)·Uh_r and
     * B = V_r·√(S_r / s), so that s·B·A is W's best rank-r approximation.
     */
    public static Part pissa(INDArray weight, int r, double scale) {
        checkRank(weight, r);
        INDArray w = weight.castTo(DataType.DOUBLE);
        boolean tall = w.rows() >= w.columns();
        QR qr = thinQr(tall ? w : w.transpose());        // W = Q·R, or Wᵀ = Q·R when W is wide
        long k = qr.r.rows();
        INDArray s = Nd4j.create(DataType.DOUBLE, k);
        INDArray u = Nd4j.create(DataType.DOUBLE, new long[] {k, k}, 'f');
        INDArray vt = Nd4j.create(DataType.DOUBLE, new long[] {k, k}, 'f');
        Nd4j.getBlasWrapper().lapack().gesvd(qr.r.dup('f'), s, u, vt);
        INDArray left = tall ? qr.q.mmul(u) : vt.transpose();          // V [out, k]
        INDArray right = tall ? vt : qr.q.mmul(u).transpose();         // Uh [k, in]
        INDArray root = Transforms.sqrt(s.get(NDArrayIndex.interval(0, r)).div(scale), false);
        INDArray a = right.get(NDArrayIndex.interval(0, r), NDArrayIndex.all()).dup('c');
        INDArray b = left.get(NDArrayIndex.all(), NDArrayIndex.interval(0, r)).dup('c');
        HeldOps.columns(HeldOps.Op.MUL, a, root, a);
        HeldOps.rows(HeldOps.Op.MUL, b, root, b);
        return new Part(a.castTo(weight.dataType()), b.castTo(weight.dataType()));
    }

    /**
     * OLoRA (Büyükakyüz 2024, arXiv 2406.01775; {@code "olora"}): with W = Q·R, A = R[:r] and B = Q[:, :r] (PEFT does
     * not divide by the scale here, so s·B·A is s times W's part along its first r columns' span).
     */
    public static Part olora(INDArray weight, int r) {
        checkRank(weight, r);
        INDArray w = weight.castTo(DataType.DOUBLE);
        long k = Math.min(w.rows(), w.columns());
        QR qr = thinQr(w.get(NDArrayIndex.all(), NDArrayIndex.interval(0, k)));
        INDArray rFull = w.rows() >= w.columns() ? qr.r : qr.q.transpose().mmul(w); // a wide W: R = Qᵀ·W, as LAPACK's
        INDArray a = rFull.get(NDArrayIndex.interval(0, r), NDArrayIndex.all()).dup('c');
        INDArray b = qr.q.get(NDArrayIndex.all(), NDArrayIndex.interval(0, r)).dup('c');
        return new Part(a.castTo(weight.dataType()), b.castTo(weight.dataType()));
    }

    private record QR(INDArray q, INDArray r) { }

    /** m [rows ≥ cols] = Q [rows, cols]·R [cols, cols], R upper triangular (LAPACK's signs). */
    private static QR thinQr(INDArray m) {
        INDArray q = m.dup('f');
        INDArray r = Nd4j.create(DataType.DOUBLE, new long[] {m.columns(), m.columns()}, 'f');
        Nd4j.getBlasWrapper().lapack().geqrf(q, r);
        return new QR(q, r);
    }

    private static void checkRank(INDArray weight, int r) {
        if (r > Math.min(weight.rows(), weight.columns())) {
            throw new IllegalArgumentException("rank " + r + " exceeds the rank of a " + weight.rows() + " × " + weight.columns() + " weight");
        }
    }
}
