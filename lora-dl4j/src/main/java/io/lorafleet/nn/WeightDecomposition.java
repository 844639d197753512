package io.lorafleet.nn;

import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.SingularValueDecomposition;
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
 * with LAPACK: a thin SVD by divide and conquer (dgesdd, which ND4J does not wrap: 5–8× faster than its dgesvd here),
 * and ND4J's QR, each checked and redone in pure Java when it fails the check (Commons Math's SVD; a Householder QR).
 * One thread, per module, at each model build: PiSSA 74 ms for 384 × 384 (MiniLM's attention), 173 ms for
 * 1,536 × 384, 344 ms for 576 × 1,536, 7.7 s for 2,048², 56 s for 4,096² (a 7B model's attention: hours over its
 * modules — use OLoRA or plain LoRA there); OLoRA 30 ms for 384², 240 ms for 576 × 1,536 (LAPACK's times; where it
 * fails its check, the Java fallback's are added).
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
        TopSingular top = checked(topSingularByLapack(w, r), w, r);
        INDArray root = Transforms.sqrt(top.values.div(scale), false);
        INDArray a = top.right.dup('c');   // Uh_r
        INDArray b = top.left.dup('c');    // V_r
        HeldOps.columns(HeldOps.Op.MUL, a, root, a);
        HeldOps.rows(HeldOps.Op.MUL, b, root, b);
        return new Part(a.castTo(weight.dataType()), b.castTo(weight.dataType()));
    }

    /**
     * The r largest singular values [r] of W with their left [m, r] and right [r, n] singular vectors, in float64, and
     * the next singular value (0 when r = min(m, n)).
     */
    record TopSingular(INDArray values, INDArray left, INDArray right, double next) {
        /**
         * Whether they are W's r largest: W·vᵢ = σᵢ·uᵢ and Wᵀ·uᵢ = σᵢ·vᵢ with orthonormal uᵢ and vᵢ, σ non-negative,
         * non-increasing and ≥ the next one, checked by gemm. (LAPACK's SVD in OpenBLAS 0.3.19 returns the right values
         * with wrong vectors under its SkylakeX kernels on some CPUs, measured: AMD EPYC family 26, from 64 × 64 up.)
         */
        boolean holdsFor(INDArray w) {
            double scale = Math.max(1e-300, w.amaxNumber().doubleValue()) * Math.max(w.rows(), w.columns());
            double tolerance = 1e-9 * scale;
            double forward = w.mmul(right.transpose()).subi(left.mulRowVector(values)).amaxNumber().doubleValue();
            double backward = w.transpose().mmul(left).subi(right.transpose().mulRowVector(values)).amaxNumber().doubleValue();
            double orthonormal = Math.max(offIdentity(right.mmul(right.transpose())), offIdentity(left.transpose().mmul(left)));
            boolean ordered = values.getDouble(values.length() - 1) >= next - tolerance;
            for (int i = 0; i < values.length(); i++) ordered &= values.getDouble(i) >= 0 && (i == 0 || values.getDouble(i) <= values.getDouble(i - 1) + tolerance);
            return ordered && forward <= tolerance && backward <= tolerance && orthonormal <= 1e-9;
        }
    }

    /** {@code first} if it holds for W, else Commons Math's SVD if that does; else a refusal. */
    static TopSingular checked(TopSingular first, INDArray w, int r) {
        if (first.holdsFor(w)) return first;
        TopSingular java = topSingularInJava(w, r);
        if (!java.holdsFor(w)) throw new IllegalStateException("no SVD of a " + w.rows() + " × " + w.columns() + " weight passed its check");
        return java;
    }

    /** LAPACK's divide-and-conquer thin SVD (dgesdd), its r leading triplets. */
    static TopSingular topSingularByLapack(INDArray w, int r) {
        int m = Math.toIntExact(w.rows()), n = Math.toIntExact(w.columns()), k = Math.min(m, n);
        double[] s = new double[k], u = new double[m * k], vt = new double[k * n];
        int info = openblas.LAPACKE_dgesdd(openblas.LAPACK_ROW_MAJOR, (byte) 'S', m, n, w.dup('c').data().asDouble(), n, s, u, k, vt, n);
        if (info != 0) throw new IllegalStateException("the SVD of a " + m + " × " + n + " weight did not converge (LAPACK dgesdd info " + info + ")");
        return new TopSingular(Nd4j.createFromArray(java.util.Arrays.copyOf(s, r)),
                Nd4j.create(u, new long[] {m, k}, 'c').get(NDArrayIndex.all(), NDArrayIndex.interval(0, r)).dup('c'),
                Nd4j.create(vt, new long[] {k, n}, 'c').get(NDArrayIndex.interval(0, r), NDArrayIndex.all()).dup('c'), r < k ? s[r] : 0);
    }

    /** Commons Math's SVD (pure Java, 5–11× slower than LAPACK's: 0.4 s for 384², 1.6 s for 1,536 × 384, 3.7 s for 576 × 1,536), for when LAPACK's fails its check. */
    static TopSingular topSingularInJava(INDArray w, int r) {
        SingularValueDecomposition svd = new SingularValueDecomposition(new Array2DRowRealMatrix(w.toDoubleMatrix(), false));
        double[][] u = svd.getU().getData(), vt = svd.getVT().getData();
        INDArray left = Nd4j.create(u).get(NDArrayIndex.all(), NDArrayIndex.interval(0, r)).dup('c');
        INDArray right = Nd4j.create(vt).get(NDArrayIndex.interval(0, r), NDArrayIndex.all()).dup('c');
        double[] values = svd.getSingularValues();
        return new TopSingular(Nd4j.createFromArray(java.util.Arrays.copyOf(values, r)), left, right, r < values.length ? values[r] : 0);
    }

    /**
     * OLoRA (Büyükakyüz 2024, arXiv 2406.01775; {@code "olora"}): with W = Q·R, A = R[:r] and B = Q[:, :r] (PEFT does
     * not divide by the scale here, so s·B·A is s times W's part along its first r columns' span).
     */
    public static Part olora(INDArray weight, int r) {
        checkRank(weight, r);
        INDArray w = weight.castTo(DataType.DOUBLE);
        long k = Math.min(w.rows(), w.columns());
        INDArray columns = w.get(NDArrayIndex.all(), NDArrayIndex.interval(0, k)).dup();
        QR qr = checked(thinQrByLapack(columns), columns);
        INDArray rFull = w.rows() >= w.columns() ? qr.r : qr.q.transpose().mmul(w); // a wide W: R = Qᵀ·W, as LAPACK's
        INDArray a = rFull.get(NDArrayIndex.interval(0, r), NDArrayIndex.all()).dup('c');
        INDArray b = qr.q.get(NDArrayIndex.all(), NDArrayIndex.interval(0, r)).dup('c');
        return new Part(a.castTo(weight.dataType()), b.castTo(weight.dataType()));
    }

    /** m [rows ≥ cols] = Q [rows, cols]·R [cols, cols], R upper triangular (LAPACK's signs: Householder's, R's diagonal −sign(a)·‖x‖). */
    record QR(INDArray q, INDArray r) {
        /** Whether Q·R = m with orthonormal columns in Q and R upper triangular (LAPACK's QR fails this as its SVD does, measured). */
        boolean holdsFor(INDArray m) {
            double tolerance = 1e-9 * Math.max(1e-300, m.amaxNumber().doubleValue()) * Math.sqrt(m.rows());
            double product = q.mmul(r).subi(m).amaxNumber().doubleValue();
            double orthonormal = offIdentity(q.transpose().mmul(q));
            double below = 0;
            for (int i = 1; i < r.rows(); i++) below = Math.max(below, r.get(NDArrayIndex.point(i), NDArrayIndex.interval(0, i)).amaxNumber().doubleValue());
            return product <= tolerance && orthonormal <= 1e-9 && below == 0;
        }
    }

    static QR thinQrByLapack(INDArray m) {
        INDArray q = m.dup('f');
        INDArray r = Nd4j.create(DataType.DOUBLE, new long[] {m.columns(), m.columns()}, 'f');
        Nd4j.getBlasWrapper().lapack().geqrf(q, r);
        return new QR(q, r);
    }

    /** {@code first} if it holds for m, else the Java QR if that does; else a refusal. */
    static QR checked(QR first, INDArray m) {
        if (first.holdsFor(m)) return first;
        QR java = thinQrInJava(m);
        if (!java.holdsFor(m)) throw new IllegalStateException("no QR of a " + m.rows() + " × " + m.columns() + " block passed its check");
        return java;
    }

    /**
     * Householder QR as LAPACK's dgeqr2 and dorg2r compute it (for when LAPACK's fails its check): reflector j maps
     * column j's part from row j to β·e₁ with β = −sign(α)·‖x‖, and is the identity (τ = 0) when nothing below the pivot
     * is non-zero — LAPACK's signs, which torch's QR has too. Thin: Q is [rows, cols]; O(rows·cols²).
     */
    static QR thinQrInJava(INDArray m) {
        int rows = Math.toIntExact(m.rows()), cols = Math.toIntExact(m.columns());
        double[][] a = m.toDoubleMatrix(); // reflectors below the diagonal, R on and above it
        double[] tau = new double[cols];
        for (int j = 0; j < cols; j++) {
            double alpha = a[j][j], below = 0;
            for (int i = j + 1; i < rows; i++) below = Math.hypot(below, a[i][j]);
            if (below == 0) continue; // τ = 0: H = I, R's entry is α as it stands
            double beta = -Math.copySign(Math.hypot(alpha, below), alpha);
            tau[j] = (beta - alpha) / beta;
            for (int i = j + 1; i < rows; i++) a[i][j] /= alpha - beta;
            a[j][j] = beta;
            for (int c = j + 1; c < cols; c++) reflect(a, j, tau[j], a, c);
        }
        double[][] q = new double[rows][cols], r = new double[cols][cols];
        for (int i = 0; i < cols; i++) for (int c = i; c < cols; c++) r[i][c] = a[i][c];
        for (int j = 0; j < cols; j++) q[j][j] = 1;
        for (int j = cols - 1; j >= 0; j--) { // Q = H₀·H₁·…·I[:, :cols], applied from the last reflector
            if (tau[j] == 0) continue;
            for (int c = j; c < cols; c++) reflect(a, j, tau[j], q, c);
        }
        return new QR(Nd4j.create(q), Nd4j.create(r));
    }

    /** Column c of x from row j down −= τ·v·(vᵀ·that column), with reflector j's v = (1, a[j+1..][j]). */
    private static void reflect(double[][] a, int j, double tau, double[][] x, int c) {
        double dot = x[j][c];
        for (int i = j + 1; i < x.length; i++) dot += a[i][j] * x[i][c];
        dot *= tau;
        x[j][c] -= dot;
        for (int i = j + 1; i < x.length; i++) x[i][c] -= dot * a[i][j];
    }

    /** The largest entry of gram − I: 0 for orthonormal vectors. */
    private static double offIdentity(INDArray gram) {
        return gram.sub(Nd4j.eye(gram.rows()).castTo(gram.dataType())).amaxNumber().doubleValue();
    }

    private static void checkRank(INDArray weight, int r) {
        if (r > Math.min(weight.rows(), weight.columns())) {
            throw new IllegalArgumentException("rank " + r + " exceeds the rank of a " + weight.rows() + " × " + weight.columns() + " weight");
        }
    }
}
