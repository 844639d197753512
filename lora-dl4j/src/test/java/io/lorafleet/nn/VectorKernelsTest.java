package io.lorafleet.nn;

import static io.lorafleet.nn.ExactArrays.assertBitIdentical;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import static io.lorafleet.nn.GradientCheck.randn;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
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
    void attentionOverPackedSequencesCausalOrNot() {
        int n = 141;
        int[] starts = {0, 37, 74, 104, 141}; // lengths 37, 37, 30, 37
        for (int d : new int[] {24, 128}) { // head widths 6 and 32: below and at the kernels' vector blocks
            for (boolean causal : new boolean[] {false, true}) {
                INDArray q = randn(3, n, d), k = randn(4, n, d), v = randn(5, n, d), dctx = randn(6, n, d);
                AttentionCore fast = new AttentionCore(4, causal), reference = new AttentionCore(4, causal);
                INDArray ctxFast = fast.forward(q.castTo(DataType.FLOAT), k.castTo(DataType.FLOAT), v.castTo(DataType.FLOAT), starts);
                INDArray ctxRef = reference.forward(q, k, v, starts);
                String what = "attention d=" + d + " causal=" + causal;
                assertClose(what + " forward", ctxFast, ctxRef, 2e-5);
                INDArray[] gFast = fast.backward(dctx.castTo(DataType.FLOAT)), gRef = reference.backward(dctx);
                for (int i = 0; i < 3; i++) assertClose(what + " d" + "qkv".charAt(i), gFast[i], gRef[i], 2e-5);
            }
        }
    }

    @Test
    void attentionOnColumnViewsWithAnOffset() {
        // rows of [q | k | v], as GPT-2's c_attn makes them: the kernels read each head through the row stride
        INDArray fused = randn(8, 29, 3 * 24), fused32 = fused.castTo(DataType.FLOAT);
        int[] starts = {0, 7, 14, 19, 24, 29};
        INDArray[] ref = new INDArray[3], fast = new INDArray[3];
        for (int i = 0; i < 3; i++) {
            ref[i] = fused.get(NDArrayIndex.all(), NDArrayIndex.interval(24 * i, 24 * (i + 1))).dup('c');
            fast[i] = fused32.get(NDArrayIndex.all(), NDArrayIndex.interval(24 * i, 24 * (i + 1)));
        }
        assertEquals(72, fast[1].stride(0));
        AttentionCore kernel = new AttentionCore(4, true), reference = new AttentionCore(4, true);
        assertClose("attention on column views forward", kernel.forward(fast[0], fast[1], fast[2], starts),
                reference.forward(ref[0], ref[1], ref[2], starts), 2e-5);
        INDArray dctx = randn(9, 29, 24);
        INDArray[] gFast = kernel.backward(dctx.castTo(DataType.FLOAT)), gRef = reference.backward(dctx);
        for (int i = 0; i < 3; i++) assertClose("attention on column views d" + "qkv".charAt(i), gFast[i], gRef[i], 2e-5);
    }

    @Test
    void causalPartsOfAProductAreTheFullProductsBitForBit() {
        // a causal probability matrix: row i is 0 after column i; the parts a causal kernel needs equal the full product there
        java.util.SplittableRandom random = new java.util.SplittableRandom(12);
        for (int length : new int[] {1, 5, 37, 70}) {
            int dh = 24;
            float[] p = new float[length * length], x = new float[length * dh], wide = new float[dh * length];
            for (int i = 0; i < length; i++) for (int j = 0; j <= i; j++) p[i * length + j] = (float) random.nextGaussian();
            for (int i = 0; i < x.length; i++) x[i] = (float) random.nextGaussian();
            for (int i = 0; i < wide.length; i++) wide[i] = (float) random.nextGaussian();
            float[] full = new float[length * dh], part = new float[length * dh];
            java.util.Arrays.fill(part, Float.NaN); // a kernel's scratch holds the previous unit's values: nothing may depend on them
            AttentionCore.matmul(p, length, 1, x, full, length, dh, length);                                   // p·v
            AttentionCore.matmul(p, length, 1, x, part, length, dh, length, AttentionCore.Triangle.DEPTH_TO_ROW);
            assertArrayEquals(full, part, "p·v, length " + length);
            AttentionCore.matmul(p, 1, length, x, full, length, dh, length);                                   // pᵀ·dctx
            AttentionCore.matmul(p, 1, length, x, part, length, dh, length, AttentionCore.Triangle.DEPTH_FROM_ROW);
            assertArrayEquals(full, part, "pᵀ·x, length " + length);
            float[] scores = new float[length * length], lower = new float[length * length];
            java.util.Arrays.fill(lower, Float.NaN);
            AttentionCore.matmul(x, dh, 1, wide, scores, length, length, dh);                                 // q·kᵀ
            AttentionCore.matmul(x, dh, 1, wide, lower, length, length, dh, AttentionCore.Triangle.COLUMNS_TO_ROW);
            for (int i = 0; i < length; i++) {
                for (int j = 0; j <= i; j++) assertEquals(scores[i * length + j], lower[i * length + j], 0f, "q·kᵀ at " + i + "," + j);
            }
        }
    }

    @Test
    void smallMatrixProductPlainAndTransposedAgainstDoubles() {
        java.util.SplittableRandom random = new java.util.SplittableRandom(11);
        int[][] shapes = {{37, 37, 6}, {37, 6, 37}, {128, 32, 128}, {5, 48, 3}, {9, 17, 40}, {1, 1, 1}}; // m, n, depth
        for (int[] shape : shapes) {
            int m = shape[0], n = shape[1], depth = shape[2];
            float[] a = new float[m * depth], b = new float[depth * n], c = new float[m * n];
            for (int i = 0; i < a.length; i++) a[i] = (float) random.nextGaussian();
            for (int i = 0; i < b.length; i++) b[i] = (float) random.nextGaussian();
            for (boolean transposed : new boolean[] {false, true}) { // a as [m, depth], or as the transpose of [depth, m]
                AttentionCore.matmul(a, transposed ? 1 : depth, transposed ? m : 1, b, c, m, n, depth);
                for (int i = 0; i < m; i++) {
                    for (int j = 0; j < n; j++) {
                        double expected = 0;
                        for (int k = 0; k < depth; k++) expected += (double) a[transposed ? k * m + i : i * depth + k] * b[k * n + j];
                        assertEquals(expected, c[i * n + j], 1e-6 * depth * (1 + Math.abs(expected)),
                                java.util.Arrays.toString(shape) + " transposed=" + transposed + " at " + i + "," + j);
                    }
                }
            }
        }
    }

    /** Everything the kernels compute in one layer's forward and backward, as one list of arrays. */
    private static java.util.List<INDArray> kernelOutputs() {
        java.util.List<INDArray> out = new java.util.ArrayList<>();
        for (Gelu.Form form : Gelu.Form.values()) {
            Gelu gelu = new Gelu(form);
            out.add(gelu.forward(randn(1, 37, 53).castTo(DataType.FLOAT)).dup());
            out.add(gelu.backward(randn(2, 37, 53).castTo(DataType.FLOAT)).dup());
        }
        for (boolean causal : new boolean[] {false, true}) {
            AttentionCore attention = new AttentionCore(4, causal);
            int[] starts = {0, 37, 74, 104, 141};
            INDArray q = randn(3, 141, 24).castTo(DataType.FLOAT), k = randn(4, 141, 24).castTo(DataType.FLOAT), v = randn(5, 141, 24).castTo(DataType.FLOAT);
            out.add(attention.forward(q, k, v, starts).dup());
            for (INDArray g : attention.backward(randn(6, 141, 24).castTo(DataType.FLOAT))) out.add(g.dup());
        }
        ParamRegistry reg = new ParamRegistry();
        LayerNorm norm = new LayerNorm(reg.trainable("g", new long[] {45}, Initializer.copyOf(randn(3, 45))),
                reg.trainable("b", new long[] {45}, Initializer.copyOf(randn(4, 45))), 1e-5);
        reg.allocate(DataType.FLOAT, 1);
        out.add(norm.forward(randn(1, 29, 45).castTo(DataType.FLOAT)).dup());
        out.add(norm.backward(randn(2, 29, 45).castTo(DataType.FLOAT)).dup());
        out.add(reg.grads().dup());
        return out;
    }

    @Test
    void resultsDoNotDependOnTheThreadCount() {
        try {
            VectorKernels.useThreads(1);
            java.util.List<INDArray> one = kernelOutputs();
            VectorKernels.useThreads(2);
            java.util.List<INDArray> two = kernelOutputs();
            VectorKernels.useThreads(3);
            java.util.List<INDArray> three = kernelOutputs();
            for (int i = 0; i < one.size(); i++) {
                assertBitIdentical(one.get(i), two.get(i), "output " + i + " with 1 and 2 threads");
                assertBitIdentical(one.get(i), three.get(i), "output " + i + " with 1 and 3 threads");
            }
        } finally {
            VectorKernels.useThreads(1);
        }
    }

    @Test
    void layerNormForwardAndBackwardWithTrainableScaleAndShift() {
        int n = 29, d = 45;
        INDArray x = randn(1, n, d).muli(3).addi(2), dy = randn(2, n, d), g = randn(3, d), b = randn(4, d);
        ParamRegistry fastReg = new ParamRegistry(), refReg = new ParamRegistry();
        LayerNorm fast = new LayerNorm(fastReg.trainable("g", new long[] {d}, Initializer.copyOf(g)),
                fastReg.trainable("b", new long[] {d}, Initializer.copyOf(b)), 1e-5);
        LayerNorm ref = new LayerNorm(refReg.trainable("g", new long[] {d}, Initializer.copyOf(g)),
                refReg.trainable("b", new long[] {d}, Initializer.copyOf(b)), 1e-5);
        fastReg.allocate(DataType.FLOAT, 1);
        refReg.allocate(DataType.DOUBLE, 1);
        assertClose("LayerNorm forward", fast.forward(x.castTo(DataType.FLOAT)), ref.forward(x), 5e-6);
        assertClose("LayerNorm backward dx", fast.backward(dy.castTo(DataType.FLOAT)), ref.backward(dy), 5e-6);
        assertClose("LayerNorm backward dgamma/dbeta", fastReg.grads(), refReg.grads(), 2e-5);
    }

    @Test
    void kernelsReadAndWriteArraysInsideAWorkspace() {
        INDArray x = randn(7, 64, 96).castTo(DataType.FLOAT);
        INDArray outside = new Gelu(Gelu.Form.ERF).forward(x).dup();
        org.nd4j.linalg.api.memory.conf.WorkspaceConfiguration cfg = org.nd4j.linalg.api.memory.conf.WorkspaceConfiguration.builder()
                .initialSize(16 << 20).build();
        try (org.nd4j.linalg.api.memory.MemoryWorkspace ws = Nd4j.getWorkspaceManager().getAndActivateWorkspace(cfg, "kernel-test")) {
            Nd4j.create(DataType.FLOAT, 1000); // something before, so the arrays below start at an offset
            INDArray inside = new Gelu(Gelu.Form.ERF).forward(x.dup());
            assertClose("GELU inside a workspace", inside, outside, 0);
        }
    }

    @Test
    void ownExpAndTanhAreAccurateAndTheVectorAndScalarFormsAgreeBitForBit() {
        var species = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED;
        float[] xs = new float[species.length()];
        float[] out = new float[species.length()];
        double worstExp = 0, worstTanh = 0;
        java.util.SplittableRandom random = new java.util.SplittableRandom(3);
        for (int trial = 0; trial < 20_000; trial++) {
            for (int i = 0; i < xs.length; i++) xs[i] = (float) (random.nextDouble() * 170 - 86);
            VectorKernels.exp(jdk.incubator.vector.FloatVector.fromArray(species, xs, 0)).intoArray(out, 0);
            for (int i = 0; i < xs.length; i++) {
                assertTrue(Float.floatToRawIntBits(out[i]) == Float.floatToRawIntBits(VectorKernels.exp(xs[i])), "exp(" + xs[i] + ")");
                worstExp = Math.max(worstExp, Math.abs(out[i] / Math.exp(xs[i]) - 1));
            }
            for (int i = 0; i < xs.length; i++) xs[i] /= 10;
            VectorKernels.tanh(jdk.incubator.vector.FloatVector.fromArray(species, xs, 0)).intoArray(out, 0);
            for (int i = 0; i < xs.length; i++) {
                assertTrue(Float.floatToRawIntBits(out[i]) == Float.floatToRawIntBits(VectorKernels.tanh(xs[i])), "tanh(" + xs[i] + ")");
                worstTanh = Math.max(worstTanh, Math.abs(out[i] - Math.tanh(xs[i])));
            }
        }
        assertTrue(worstExp < 4e-7, "exp: max relative error " + worstExp);
        assertTrue(worstTanh < 2e-7, "tanh: max absolute error " + worstTanh);
    }
}
