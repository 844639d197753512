package io.lorafleet.nn;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import static io.lorafleet.nn.GradientCheck.randn;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The float32 vector kernels against the float64 reference path of the same layers. */
class VectorKernelsTest {
    private static double maxAbsDiff(INDArray a, INDArray b) {
        INDArray d = a.castTo(DataType.DOUBLE).sub(b.castTo(DataType.DOUBLE));
        return Math.max(d.maxNumber().doubleValue(), -d.minNumber().doubleValue());
    }

    private static void assertClose(String what, INDArray fast, INDArray reference, double tol) {
        double diff = maxAbsDiff(fast, reference);
        System.out.printf("%-34s float32 kernel vs float64 reference: max abs diff %.2e%n", what, diff);
        assertTrue(diff <= tol, what + ": " + diff);
    }

    @Test
    void kernelsAreInUseForFloat32() {
        assertTrue(VectorKernels.applicable(Nd4j.create(DataType.FLOAT, 3, 4)), "jdk.incubator.vector missing from the test JVM");
    }

    @Test
    void geluForwardAndBackward() {
        for (Gelu.Form form : Gelu.Form.values()) {
            INDArray x = randn(1, 37, 53).muli(3), dy = randn(2, 37, 53);
            Gelu fast = new Gelu(form), reference = new Gelu(form);
            INDArray yFast = fast.forward(x.castTo(DataType.FLOAT)), yRef = reference.forward(x);
            assertClose("GELU " + form + " forward", yFast, yRef, 2e-6);
            assertClose("GELU " + form + " backward", fast.backward(dy.castTo(DataType.FLOAT)), reference.backward(dy), 2e-6);
        }
    }

    @Test
    void attentionSoftmaxWithPaddingAndCausalMasks() {
        for (boolean causal : new boolean[] {false, true}) {
            int b = 3, t = 37, d = 24;
            INDArray q = randn(3, b * t, d), k = randn(4, b * t, d), v = randn(5, b * t, d), dctx = randn(6, b * t, d);
            INDArray mask = Nd4j.ones(DataType.DOUBLE, b, t);
            mask.get(org.nd4j.linalg.indexing.NDArrayIndex.point(1), org.nd4j.linalg.indexing.NDArrayIndex.interval(30, t)).assign(0);
            AttentionCore fast = new AttentionCore(4, causal), reference = new AttentionCore(4, causal);
            INDArray ctxFast = fast.forward(q.castTo(DataType.FLOAT), k.castTo(DataType.FLOAT), v.castTo(DataType.FLOAT), b, t, mask.castTo(DataType.FLOAT));
            INDArray ctxRef = reference.forward(q, k, v, b, t, mask);
            assertClose("attention causal=" + causal + " forward", ctxFast, ctxRef, 2e-5);
            INDArray[] gFast = fast.backward(dctx.castTo(DataType.FLOAT)), gRef = reference.backward(dctx);
            for (int i = 0; i < 3; i++) assertClose("attention causal=" + causal + " d" + "qkv".charAt(i), gFast[i], gRef[i], 2e-5);
        }
    }
}
