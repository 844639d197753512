package io.lorafleet.nn;

import org.bytedeco.openblas.global.openblas;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * Where PiSSA and OLoRA start an adapter: from a rank-r part of the pretrained W [out, in] itself, which is then taken
 * out of the base ({@link LoraDelta}'s starting part), instead of from B = 0. Both follow PEFT 0.21's
 * {@code init_lora_weights} exactly (up to the signs of singular vectors, which cancel in B·A), computed in float64
 * with LAPACK: a thin SVD by divide and conquer (dgesdd, which ND4J does not wrap: 5–8× faster than its dgesvd here) and
 * ND4J's QR. One thread, per module, at each model build: PiSSA 74 ms for 384 × 384 (MiniLM's attention), 173 ms for
 * 1,536 × 384, 344 ms for 576 × 1,536, 7.7 s for 2,048², 56 s for 4,096² (a 7B model's attention: hours over its
 * modules — use OLoRA or plain LoRA there); OLoRA 30 ms for 384², 240 ms for 576 × 1,536.
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
        int m = Math.toIntExact(weight.rows()), n = Math.toIntExact(weight.columns()), k = Math.min(m, n);
        double[] s = new double[k], u = new double[m * k], vt = new double[k * n];
        int info = openblas.LAPACKE_dgesdd(openblas.LAPACK_ROW_MAJOR, (byte) 'S', m, n, weight.castTo(DataType.DOUBLE).dup('c').data().asDouble(), n,
                s, u, k, vt, n);
        if (info != 0) throw new IllegalStateException("the SVD of a " + m + " × " + n + " weight did not converge (LAPACK dgesdd info " + info + ")");
        INDArray root = Transforms.sqrt(Nd4j.createFromArray(java.util.Arrays.copyOf(s, r)).divi(scale), false);
        INDArray a = Nd4j.create(vt, new long[] {k, n}, 'c').get(NDArrayIndex.interval(0, r), NDArrayIndex.all()).dup('c');   // Uh_r
        INDArray b = Nd4j.create(u, new long[] {m, k}, 'c').get(NDArrayIndex.all(), NDArrayIndex.interval(0, r)).dup('c');    // V_r
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
