package io.lorafleet.nn;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import static io.lorafleet.nn.GradientCheck.randn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** PiSSA's and OLoRA's starting parts have the properties that define them, for tall, wide and square W. */
class WeightDecompositionTest {
    private static void assertNear(INDArray expected, INDArray actual, String what) {
        double error = expected.sub(actual).amaxNumber().doubleValue();
        assertTrue(error < 1e-10, what + ": off by " + error);
    }

    @Test
    void pissaStartsFromTheTopSingularDirections() {
        // from 64 × 64 up, OpenBLAS 0.3.19's SVD returned wrong vectors under its SkylakeX kernels on an AMD EPYC family 26
        for (long[] shape : new long[][] {{9, 5}, {5, 9}, {6, 6}, {120, 90}, {90, 120}}) {
            INDArray w = randn(shape[0] * 7 + shape[1], shape);
            double s = 0.25;
            int k = (int) Math.min(shape[0], shape[1]);
            WeightDecomposition.Part full = WeightDecomposition.pissa(w, k, s);
            assertNear(w, full.b().mmul(full.a()).muli(s), "at full rank s·B·A is W " + shape[0] + "×" + shape[1]);
            WeightDecomposition.Part part = WeightDecomposition.pissa(w, 2, s);
            assertEquals(2, part.a().rows());
            // A = √(S/s)·Uh and B = V·√(S/s): A·Aᵀ = BᵀB = diag(S/s), decreasing, and the residual is orthogonal to both
            INDArray gram = part.a().mmul(part.a().transpose());
            assertNear(gram, part.b().transpose().mmul(part.b()), "A·Aᵀ = BᵀB");
            assertTrue(Math.abs(gram.getDouble(0, 1)) < 1e-10 && gram.getDouble(0, 0) >= gram.getDouble(1, 1), "diagonal, decreasing: " + gram);
            INDArray residual = w.sub(part.b().mmul(part.a()).muli(s));
            assertNear(Nd4j.zeros(shape[0], 2), residual.mmul(part.a().transpose()), "the residual has none of A's directions");
            assertNear(Nd4j.zeros(2, shape[1]), part.b().transpose().mmul(residual), "nor of B's");
            // and those are the largest: the residual's largest singular value is the third of W
            WeightDecomposition.Part third = WeightDecomposition.pissa(residual, 1, 1);
            assertNear(Nd4j.scalar(full.a().mmul(full.a().transpose()).getDouble(2, 2) * s),
                    Nd4j.scalar(third.a().mmul(third.a().transpose()).getDouble(0, 0)), "the residual's top singular value");
        }
    }

    @Test
    void anSvdWhoseVectorsAreNotTheWeightsFailsTheCheckAndIsRedoneInJava() {
        INDArray w = randn(11, 120, 90);
        WeightDecomposition.TopSingular java = WeightDecomposition.topSingularInJava(w, 5);
        assertTrue(java.holdsFor(w), "Commons Math's SVD");
        INDArray swapped = java.right().dup();
        swapped.putRow(0, java.right().getRow(1));
        swapped.putRow(1, java.right().getRow(0));
        WeightDecomposition.TopSingular wrong = new WeightDecomposition.TopSingular(java.values(), java.left(), swapped, java.next());
        assertFalse(wrong.holdsFor(w), "two right vectors swapped");
        INDArray flipped = java.right().dup();
        flipped.putRow(2, java.right().getRow(2).neg());
        assertFalse(new WeightDecomposition.TopSingular(java.values(), java.left(), flipped, java.next()).holdsFor(w), "one right vector's sign alone");
        assertFalse(new WeightDecomposition.TopSingular(java.values().mul(1 + 1e-6), java.left(), java.right(), java.next()).holdsFor(w), "values off by 1e-6");
        assertFalse(new WeightDecomposition.TopSingular(java.values().neg(), java.left().neg(), java.right(), java.next()).holdsFor(w), "negative values");
        WeightDecomposition.TopSingular lower = WeightDecomposition.topSingularInJava(w, 6);
        INDArray notTop = lower.right().get(NDArrayIndex.interval(1, 6), NDArrayIndex.all()), notTopLeft = lower.left().get(NDArrayIndex.all(), NDArrayIndex.interval(1, 6));
        assertFalse(new WeightDecomposition.TopSingular(lower.values().get(NDArrayIndex.interval(1, 6)), notTopLeft, notTop, lower.values().getDouble(0)).holdsFor(w),
                "singular pairs 2–6 are not the top five");
        // right vectors that are not singular: W·v = σ·u holds by construction, the rest does not
        INDArray v = WeightDecomposition.thinQrInJava(randn(12, 90, 5)).q().transpose(), wv = w.mmul(v.transpose());
        INDArray sigma = wv.norm2(0);
        assertFalse(new WeightDecomposition.TopSingular(sigma, wv.divRowVector(sigma), v, 0).holdsFor(w), "any orthonormal v with u = W·v/‖W·v‖");
        assertTrue(WeightDecomposition.checked(wrong, w, 5).holdsFor(w), "a wrong SVD is redone");
        // LAPACK's values are right even where its vectors are not (they then fail the check, and pissa uses Java's)
        assertNear(java.values(), WeightDecomposition.topSingularByLapack(w, 5).values(), "LAPACK's and Java's singular values");
    }

    @Test
    void aQrThatIsNotTheBlocksFailsTheCheckAndIsRedoneInJavaWithLapacksSigns() {
        for (long[] shape : new long[][] {{120, 90}, {90, 90}}) {
            INDArray m = randn(shape[0] + 13, shape);
            WeightDecomposition.QR java = WeightDecomposition.thinQrInJava(m);
            assertTrue(java.holdsFor(m), "the Java QR " + shape[0] + "×" + shape[1]);
            // a rotation of columns 0, 1 of Q and rows 0, 1 of R: the same product, orthonormal, but R not triangular
            double c = 0.6, s = 0.8;
            INDArray q = java.q().dup(), r = java.r().dup();
            INDArray q0 = q.getColumn(0).dup(), q1 = q.getColumn(1).dup(), r0 = r.getRow(0).dup(), r1 = r.getRow(1).dup();
            q.putColumn(0, q0.mul(c).addi(q1.mul(s)));
            q.putColumn(1, q1.mul(c).subi(q0.mul(s)));
            r.putRow(0, r0.mul(c).addi(r1.mul(s)));
            r.putRow(1, r1.mul(c).subi(r0.mul(s)));
            WeightDecomposition.QR rotated = new WeightDecomposition.QR(q, r);
            assertNear(m, q.mmul(r), "the rotated factors' product");
            assertFalse(rotated.holdsFor(m), "R not upper triangular");
            assertTrue(WeightDecomposition.checked(rotated, m).holdsFor(m), "a wrong QR is redone");
            WeightDecomposition.QR lapack = WeightDecomposition.thinQrByLapack(m);
            if (lapack.holdsFor(m)) { // where LAPACK is right (not OpenBLAS 0.3.19's SkylakeX kernels on AMD family 26): the same signs
                assertNear(lapack.q(), java.q(), "Q as LAPACK's " + shape[0] + "×" + shape[1]);
                assertNear(lapack.r(), java.r(), "R as LAPACK's " + shape[0] + "×" + shape[1]);
            }
        }
    }

    @Test
    void oloraStartsFromTheQrFactors() {
        for (long[] shape : new long[][] {{9, 5}, {5, 9}, {6, 6}, {120, 90}, {90, 120}}) {
            INDArray w = randn(shape[0] * 5 + shape[1], shape);
            int k = (int) Math.min(shape[0], shape[1]);
            WeightDecomposition.Part full = WeightDecomposition.olora(w, k);
            assertNear(w, full.b().mmul(full.a()), "Q·R = W " + shape[0] + "×" + shape[1]);
            assertNear(Nd4j.eye(k).castTo(w.dataType()), full.b().transpose().mmul(full.b()), "Q has orthonormal columns");
            for (int i = 0; i < k; i++) for (int j = 0; j < i; j++) assertEquals(0.0, full.a().getDouble(i, j), 1e-12, "R is upper triangular");
            WeightDecomposition.Part part = WeightDecomposition.olora(w, 2);
            assertNear(full.a().getRows(0, 1), part.a(), "A is R's first rows");
        }
        assertThrows(IllegalArgumentException.class, () -> WeightDecomposition.olora(randn(1, 3, 4), 4));
    }
}
