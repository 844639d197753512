package io.lorafleet.nn;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

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
    void anSvdWhoseVectorsAreNotTheWeightsFailsTheCheck() {
        INDArray w = randn(11, 120, 90);
        WeightDecomposition.TopSingular java = WeightDecomposition.topSingularInJava(w, 5);
        assertTrue(java.holdsFor(w), "Commons Math's SVD");
        INDArray swapped = java.right().dup();
        swapped.putRow(0, java.right().getRow(1));
        swapped.putRow(1, java.right().getRow(0));
        assertFalse(new WeightDecomposition.TopSingular(java.values(), java.left(), swapped).holdsFor(w), "two right vectors swapped");
        INDArray flipped = java.right().dup();
        flipped.putRow(2, java.right().getRow(2).neg());
        assertFalse(new WeightDecomposition.TopSingular(java.values(), java.left(), flipped).holdsFor(w), "one right vector's sign alone");
        INDArray scaled = java.values().mul(1 + 1e-6);
        assertFalse(new WeightDecomposition.TopSingular(scaled, java.left(), java.right()).holdsFor(w), "values off by 1e-6");
        WeightDecomposition.QR qr = WeightDecomposition.thinQrInJava(w);
        assertTrue(qr.holdsFor(w), "Commons Math's QR");
        INDArray skewed = qr.r().dup();
        skewed.putScalar(3, 1, 1e-3);
        assertFalse(new WeightDecomposition.QR(qr.q(), skewed).holdsFor(w), "R not upper triangular");
        // LAPACK's values are right even where its vectors are not (they then fail the check, and pissa uses Java's)
        assertNear(java.values(), WeightDecomposition.topSingularByLapack(w, 5).values(), "LAPACK's and Java's singular values");
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
