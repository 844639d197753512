package io.lorafleet.nn;

import static io.lorafleet.nn.ExactArrays.assertBitIdentical;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.List;
import java.util.Map;

import static io.lorafleet.nn.GradientCheck.maxRelativeError;
import static io.lorafleet.nn.GradientCheck.randn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every layer's backward against finite differences in float64, max relative error ≤ 1e-6. */
class LayerGradientTest {
    private static final double TOL = 1e-6;

    private static void assertGradient(String what, double error) {
        System.out.printf("%-40s max rel error %.2e%n", what, error);
        assertTrue(error <= TOL, what + ": max relative error " + error);
    }

    private static Param frozen(String name, long seed, long... shape) {
        return Param.frozen(name, randn(seed, shape));
    }

    @Test
    void frozenLinearComputesInputGradientOnlyAndHasNoWeightGradient() {
        Linear linear = new Linear(frozen("w", 1, 5, 4), frozen("b", 2, 5));
        INDArray x = randn(3, 6, 4), r = randn(4, 6, 5);
        linear.forward(x);
        INDArray dx = linear.backward(r, true);
        assertGradient("Linear (frozen) dx", maxRelativeError(x, dx, () -> linear.forward(x), r));
        assertThrows(IllegalStateException.class, () -> frozen("w", 1, 5, 4).grad());
    }

    @Test
    void trainableLinear() {
        ParamRegistry reg = new ParamRegistry();
        Linear linear = new Linear(reg.trainable("w", new long[] {5, 4}, Initializer.gaussian(1)), reg.trainable("b", new long[] {5}, Initializer.gaussian(1)));
        reg.allocate(org.nd4j.linalg.api.buffer.DataType.DOUBLE, 7);
        INDArray x = randn(3, 6, 4), r = randn(4, 6, 5);
        linear.forward(x);
        INDArray dx = linear.backward(r, true);
        assertGradient("Linear dx", maxRelativeError(x, dx, () -> linear.forward(x), r));
        assertGradient("Linear dW", maxRelativeError(reg.get("w").value(), reg.get("w").grad(), () -> linear.forward(x), r));
        assertGradient("Linear db", maxRelativeError(reg.get("b").value(), reg.get("b").grad(), () -> linear.forward(x), r));
    }

    private static void checkLora(double dropout, boolean rsLora) {
        ParamRegistry reg = new ParamRegistry();
        Linear base = new Linear(frozen("q.weight", 1, 6, 5), frozen("q.bias", 2, 6));
        // B starts at zero in real use; a random B makes dA non-zero so that it is checked too.
        LoraLinear lora = new LoraLinear(base, reg.trainable("q.lora_A.weight", new long[] {3, 5}, Initializer.KAIMING_UNIFORM),
                reg.trainable("q.lora_B.weight", new long[] {6, 3}, Initializer.gaussian(1)), rsLora ? 2 / Math.sqrt(3) : 2.0 / 3, dropout, 11);
        reg.allocate(org.nd4j.linalg.api.buffer.DataType.DOUBLE, 5);
        lora.setTraining(true, 42);
        INDArray x = randn(3, 7, 5), r = randn(4, 7, 6);
        lora.forward(x);
        INDArray dx = lora.backward(r, true);
        String tag = "LoraLinear p=" + dropout + (rsLora ? " rs" : "");
        assertGradient(tag + " dx", maxRelativeError(x, dx, () -> lora.forward(x), r));
        assertGradient(tag + " dA", maxRelativeError(lora.loraA().value(), lora.loraA().grad(), () -> lora.forward(x), r));
        assertGradient(tag + " dB", maxRelativeError(lora.loraB().value(), lora.loraB().grad(), () -> lora.forward(x), r));
        assertEquals(2, reg.params().size(), "only A and B are trainable");
        // without an input gradient: no dx, and exactly the same A/B gradients
        INDArray grads = reg.grads().dup();
        reg.zeroGrads();
        lora.forward(x);
        assertEquals(null, lora.backward(r, false));
        assertBitIdentical(grads, reg.grads(), "A/B gradients with and without dx asked for");
    }

    @Test
    void multiLoraLinearGivesEachAdapterItsOwnRows() {
        // three adapters over one frozen base: adapter 0 owns rows 0-2, adapter 1 does not adapt this module, adapter 2 owns rows 5-6
        ParamRegistry reg = new ParamRegistry();
        Linear base = new Linear(frozen("q.weight", 1, 6, 5), frozen("q.bias", 2, 6));
        LoraDelta first = new LoraDelta(reg.trainable("0.lora_A.weight", new long[] {3, 5}, Initializer.KAIMING_UNIFORM),
                reg.trainable("0.lora_B.weight", new long[] {6, 3}, Initializer.gaussian(1)), 2.0 / 3, 0.2, 11);
        LoraDelta last = new LoraDelta(reg.trainable("2.lora_A.weight", new long[] {2, 5}, Initializer.KAIMING_UNIFORM),
                reg.trainable("2.lora_B.weight", new long[] {6, 2}, Initializer.gaussian(1)), 1.5, 0, 12);
        AdapterRows rows = new AdapterRows(3);
        MultiLoraLinear multi = new MultiLoraLinear(base, java.util.Arrays.asList(first, null, last), rows);
        reg.allocate(org.nd4j.linalg.api.buffer.DataType.DOUBLE, 5);
        rows.set(new long[] {0, 3, 5}, new long[] {3, 5, 7});
        first.setTraining(true, 3, 0);
        INDArray x = randn(3, 7, 5), r = randn(4, 7, 6);
        multi.forward(x);
        INDArray dx = multi.backward(r, true);
        assertGradient("MultiLoraLinear dx", maxRelativeError(x, dx, () -> multi.forward(x), r));
        for (Param p : reg.params()) assertGradient("MultiLoraLinear d" + p.name(), maxRelativeError(p.value(), p.grad(), () -> multi.forward(x), r));
        // rows of the adapter without a delta get exactly the base output
        INDArray y = multi.forward(x);
        INDArray plain = base.forward(x);
        assertBitIdentical(plain.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(3, 5), org.nd4j.linalg.indexing.NDArrayIndex.all()),
                y.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(3, 5), org.nd4j.linalg.indexing.NDArrayIndex.all()), "rows without a delta");
    }

    @Test
    void loraLinear() {
        checkLora(0.0, false);
        checkLora(0.0, true);
    }

    @Test
    void loraLinearWithDropout() {
        checkLora(0.3, false);
    }

    /**
     * DoRA's output as PEFT computes it, with the norm n held at {@code norm}: the function whose gradient DoRA's
     * backward computes (n is detached). {@code mask} is the forward's dropout mask (null: none); W₀ = W − s·B₀·A₀.
     */
    private static INDArray doraReference(INDArray x, Linear base, LoraDelta lora, INDArray magnitude, INDArray norm, INDArray mask) {
        double s = lora.scale();
        INDArray w = base.weightValue().dup();
        if (lora.initialA() != null) w.subi(lora.initialB().mmul(lora.initialA()).muli(s));
        INDArray dropped = mask == null ? x : x.mul(mask);
        INDArray g = magnitude.div(norm);
        INDArray y = x.mmul(w.transpose()).addRowVector(base.bias().value());
        y.addi(dropped.mmul(w.transpose()).mulRowVector(g.sub(1)));
        return y.addi(dropped.mmul(lora.loraA().value().transpose()).mmul(lora.loraB().value().transpose()).muli(s).mulRowVector(g));
    }

    /** n = ‖W + s·(B·A − B₀·A₀)‖ per row, computed here from the definition. */
    private static INDArray doraNorm(Linear base, LoraDelta lora) {
        INDArray adapted = base.weightValue().add(lora.loraB().value().mmul(lora.loraA().value()).muli(lora.scale()));
        if (lora.initialA() != null) adapted.subi(lora.initialB().mmul(lora.initialA()).muli(lora.scale()));
        return adapted.norm2(1);
    }

    private static void checkDora(double dropout, boolean fromWeight) {
        ParamRegistry reg = new ParamRegistry();
        Linear base = new Linear(frozen("q.weight", 1, 6, 5), frozen("q.bias", 2, 6));
        double s = 2.0 / 3;
        WeightDecomposition.Part start = fromWeight ? WeightDecomposition.pissa(base.weightValue(), 3, s) : null;
        LoraDelta lora = new LoraDelta(reg.trainable("q.lora_A.weight", new long[] {3, 5}, Initializer.KAIMING_UNIFORM),
                reg.trainable("q.lora_B.weight", new long[] {6, 3}, Initializer.gaussian(1)), start, s, dropout, 11);
        Param magnitude = reg.trainable("q.lora_magnitude_vector", new long[] {6}, Initializer.copyOf(DoraDelta.rowNorms(base.weightValue())));
        LoraLinear layer = new LoraLinear(base, new DoraDelta(base, lora, magnitude));
        reg.allocate(org.nd4j.linalg.api.buffer.DataType.DOUBLE, 5);
        magnitude.value().addi(randn(9, 6).muli(0.3)); // a trained magnitude, no longer the norm
        layer.setTraining(true, 42);
        INDArray x = randn(3, 7, 5), r = randn(4, 7, 6);
        layer.forward(x);
        INDArray dx = layer.backward(r, true);
        String tag = "DoRA p=" + dropout + (fromWeight ? " PiSSA start" : "");
        assertGradient(tag + " dx", maxRelativeError(x, dx, () -> layer.forward(x), r));
        assertGradient(tag + " dm", maxRelativeError(magnitude.value(), magnitude.grad(), () -> layer.forward(x), r));
        // A and B move n too, which the backward holds constant: their check is against the definition with n fixed
        INDArray norm = doraNorm(base, lora), mask = lora.mask();
        assertEquals(dropout > 0, mask != null);
        double forwardError = layer.forward(x).sub(doraReference(x, base, lora, magnitude.value(), norm, mask)).amaxNumber().doubleValue();
        assertTrue(forwardError < 1e-12, tag + ": the forward is PEFT's formula, off by " + forwardError);
        assertGradient(tag + " dA", maxRelativeError(lora.loraA().value(), lora.loraA().grad(), () -> doraReference(x, base, lora, magnitude.value(), norm, mask), r));
        assertGradient(tag + " dB", maxRelativeError(lora.loraB().value(), lora.loraB().grad(), () -> doraReference(x, base, lora, magnitude.value(), norm, mask), r));
        // merged, the layer gives the same output from W alone; unmerged, W is back
        layer.setTraining(false, 0);
        INDArray unmerged = layer.forward(x), w = base.weightValue().dup();
        layer.merge();
        assertTrue(layer.forward(x).sub(unmerged).amaxNumber().doubleValue() < 1e-12, tag + ": merged output");
        layer.unmerge();
        assertTrue(base.weightValue().sub(w).amaxNumber().doubleValue() < 1e-12, tag + ": unmerged W");
    }

    @Test
    void doraLinear() {
        checkDora(0.0, false);
        checkDora(0.3, false);
    }

    @Test
    void loraAndDoraStartingFromWeight() {
        checkDora(0.0, true);
        checkDora(0.3, true);
        // plain LoRA with a starting part: the same layer starts at the base output, and its gradients are right
        ParamRegistry reg = new ParamRegistry();
        Linear base = new Linear(frozen("q.weight", 1, 6, 5), frozen("q.bias", 2, 6));
        WeightDecomposition.Part start = WeightDecomposition.olora(base.weightValue(), 2);
        LoraDelta delta = new LoraDelta(reg.trainable("q.lora_A.weight", new long[] {2, 5}, Initializer.copyOf(start.a())),
                reg.trainable("q.lora_B.weight", new long[] {6, 2}, Initializer.copyOf(start.b())), start, 0.5, 0.2, 11);
        LoraLinear layer = new LoraLinear(base, delta);
        reg.allocate(org.nd4j.linalg.api.buffer.DataType.DOUBLE, 5);
        INDArray x = randn(3, 7, 5), r = randn(4, 7, 6);
        assertTrue(layer.forward(x).sub(base.forward(x)).amaxNumber().doubleValue() < 1e-12, "starts as the base");
        delta.loraB().value().addi(randn(8, 6, 2));
        layer.setTraining(true, 3);
        layer.forward(x);
        INDArray dx = layer.backward(r, true);
        assertGradient("LoRA from W dx", maxRelativeError(x, dx, () -> layer.forward(x), r));
        for (Param p : reg.params()) assertGradient("LoRA from W d" + p.name(), maxRelativeError(p.value(), p.grad(), () -> layer.forward(x), r));
    }

    @Test
    void multiLoraLinearGivesADoraAdapterItsOwnRows() {
        // adapter 0 (DoRA, dropout) owns rows 0-3, adapter 1 (LoRA) rows 5-6: each gets the gradients it gets alone
        ParamRegistry reg = new ParamRegistry(), alone = new ParamRegistry();
        Linear base = new Linear(frozen("q.weight", 1, 6, 5), frozen("q.bias", 2, 6));
        DoraDelta[] dora = new DoraDelta[2];
        for (int k = 0; k < 2; k++) {
            ParamRegistry into = k == 0 ? reg : alone;
            dora[k] = new DoraDelta(base, new LoraDelta(into.trainable("0.lora_A.weight", new long[] {3, 5}, Initializer.KAIMING_UNIFORM),
                    into.trainable("0.lora_B.weight", new long[] {6, 3}, Initializer.gaussian(1)), 2.0 / 3, 0.2, 11),
                    into.trainable("0.lora_magnitude_vector", new long[] {6}, Initializer.gaussian(1)));
        }
        LoraDelta last = new LoraDelta(reg.trainable("1.lora_A.weight", new long[] {2, 5}, Initializer.KAIMING_UNIFORM),
                reg.trainable("1.lora_B.weight", new long[] {6, 2}, Initializer.gaussian(1)), 1.5, 0, 12);
        AdapterRows rows = new AdapterRows(3);
        MultiLoraLinear multi = new MultiLoraLinear(base, java.util.Arrays.asList(dora[0], null, last), rows);
        reg.allocate(org.nd4j.linalg.api.buffer.DataType.DOUBLE, 5);
        alone.allocate(org.nd4j.linalg.api.buffer.DataType.DOUBLE, 5);
        rows.set(new long[] {0, 3, 5}, new long[] {3, 5, 7});
        dora[0].setTraining(true, 3, 0);
        INDArray x = randn(3, 7, 5), r = randn(4, 7, 6);
        multi.forward(x);
        INDArray dx = multi.backward(r, true);
        assertGradient("MultiLoraLinear (DoRA) dx", maxRelativeError(x, dx, () -> multi.forward(x), r));
        assertGradient("MultiLoraLinear (DoRA) dm", maxRelativeError(reg.get("0.lora_magnitude_vector").value(),
                reg.get("0.lora_magnitude_vector").grad(), () -> multi.forward(x), r));
        LoraLinear single = new LoraLinear(base, dora[1]);
        single.setTraining(true, 3);
        INDArray own = x.get(NDArrayIndex.interval(0, 3), NDArrayIndex.all());
        single.forward(own);
        single.backward(r.get(NDArrayIndex.interval(0, 3), NDArrayIndex.all()), true);
        for (Param p : alone.params()) {
            assertTrue(reg.get(p.name()).grad().sub(p.grad()).amaxNumber().doubleValue() < 1e-12, p.name() + ": the gradient it gets alone");
        }
    }

    @Test
    void int8LinearWithLoraAndDora() {
        byte[] values = new byte[6 * 5];
        java.util.SplittableRandom random = new java.util.SplittableRandom(4);
        for (int i = 0; i < values.length; i++) values[i] = (byte) random.nextInt(-64, 65);
        INDArray q = Nd4j.createFromArray(values).reshape(6, 5), scale = Nd4j.createFromArray(0.01, 0.02, 0.005, 0.03, 0.01, 0.015);
        Linear base = new Linear(Param.frozen("q.weight", q), scale, frozen("q.bias", 2, 6));
        INDArray w = q.castTo(org.nd4j.linalg.api.buffer.DataType.DOUBLE).mulColumnVector(scale);
        INDArray x = randn(3, 7, 5), r = randn(4, 7, 6);
        INDArray expected = x.mmul(w.transpose()).addRowVector(base.bias().value());
        assertTrue(base.forward(x).sub(expected).amaxNumber().doubleValue() < 1e-12, "y = x·(q·s)ᵀ + b");
        assertTrue(base.weightValue().sub(w).amaxNumber().doubleValue() < 1e-15, "W = q·s");
        INDArray dx = base.backward(r, true);
        assertGradient("Linear (int8) dx", maxRelativeError(x, dx, () -> base.forward(x), r));
        for (boolean dora : new boolean[] {false, true}) {
            ParamRegistry reg = new ParamRegistry();
            LoraDelta lora = new LoraDelta(reg.trainable("q.lora_A.weight", new long[] {3, 5}, Initializer.KAIMING_UNIFORM),
                    reg.trainable("q.lora_B.weight", new long[] {6, 3}, Initializer.gaussian(1)), 2.0 / 3, 0.2, 11);
            AdapterDelta delta = dora ? new DoraDelta(base, lora, reg.trainable("q.lora_magnitude_vector", new long[] {6}, Initializer.copyOf(DoraDelta.rowNorms(w))))
                    : lora;
            LoraLinear layer = new LoraLinear(base, delta);
            reg.allocate(org.nd4j.linalg.api.buffer.DataType.DOUBLE, 5);
            layer.setTraining(true, 1);
            layer.forward(x);
            INDArray dxLayer = layer.backward(r, true);
            String tag = dora ? "DoRA on int8" : "LoRA on int8";
            assertGradient(tag + " dx", maxRelativeError(x, dxLayer, () -> layer.forward(x), r));
            INDArray norm = doraNorm(base, lora), mask = lora.mask();
            assertGradient(tag + " dB", maxRelativeError(lora.loraB().value(), lora.loraB().grad(),
                    dora ? () -> doraReference(x, base, lora, reg.get("q.lora_magnitude_vector").value(), norm, mask) : () -> layer.forward(x), r));
            // an int8 W cannot hold the adapter: merged, the layer keeps adding it, with the same output
            layer.setTraining(false, 0);
            INDArray unmerged = layer.forward(x);
            layer.merge();
            assertTrue(layer.forward(x).sub(unmerged).amaxNumber().doubleValue() < 1e-12, tag + ": merged output");
            assertBitIdentical(q, base.weight().value(), tag + ": the int8 weight is never written");
            layer.unmerge();
        }
    }

    @Test
    void eachMicroBatchOfAStepDrawsItsOwnDropoutMask() {
        // micro-batches of one step each start at row 0: one shared mask would drop the same features of their first rows
        ParamRegistry reg = new ParamRegistry();
        LoraDelta delta = new LoraDelta(reg.trainable("q.lora_A.weight", new long[] {3, 5}, Initializer.KAIMING_UNIFORM),
                reg.trainable("q.lora_B.weight", new long[] {6, 3}, Initializer.gaussian(1)), 2.0 / 3, 0.5, 11);
        reg.allocate(org.nd4j.linalg.api.buffer.DataType.DOUBLE, 5);
        INDArray x = randn(3, 4, 5);
        java.util.function.Supplier<INDArray> forward = () -> {
            INDArray y = Nd4j.zeros(org.nd4j.linalg.api.buffer.DataType.DOUBLE, 4, 6);
            delta.addForward(x, y);
            return y;
        };
        delta.setTraining(true, 7, 0);
        INDArray step = forward.get();
        delta.setTraining(true, 7, 0);
        assertBitIdentical(step, forward.get(), "micro-batch 0's mask again");
        delta.setTraining(true, 7, 1);
        INDArray second = forward.get();
        assertTrue(step.sub(second).norm2Number().doubleValue() > 1e-6, "micro-batch 1 has a mask of its own");
        delta.setTraining(true, 7, 1);
        assertBitIdentical(second, forward.get(), "micro-batch 1's mask again");
    }

    @Test
    void embeddingScatterAddsRepeatedIds() {
        ParamRegistry reg = new ParamRegistry();
        Embedding emb = new Embedding(reg.trainable("table", new long[] {7, 4}, Initializer.gaussian(1)));
        reg.allocate(org.nd4j.linalg.api.buffer.DataType.DOUBLE, 3);
        int[] ids = {3, 1, 3, 6, 3, 0};
        INDArray r = randn(9, 6, 4);
        emb.forward(ids);
        emb.backward(r);
        assertGradient("Embedding dTable (repeated ids)", maxRelativeError(emb.table().value(), emb.table().grad(), () -> emb.forward(ids), r));
        assertEquals(0.0, emb.table().grad().getRow(2).sumNumber().doubleValue(), "unused rows get no gradient");
    }

    @Test
    void layerNorm() {
        ParamRegistry reg = new ParamRegistry();
        LayerNorm ln = new LayerNorm(reg.trainable("g", new long[] {6}, Initializer.gaussian(1)), reg.trainable("b", new long[] {6}, Initializer.gaussian(1)), 1e-5);
        reg.allocate(org.nd4j.linalg.api.buffer.DataType.DOUBLE, 3);
        INDArray x = randn(1, 4, 6).muli(3).addi(1), r = randn(2, 4, 6);
        ln.forward(x);
        INDArray dx = ln.backward(r);
        assertGradient("LayerNorm dx", maxRelativeError(x, dx, () -> ln.forward(x), r));
        assertGradient("LayerNorm dgamma", maxRelativeError(reg.get("g").value(), reg.get("g").grad(), () -> ln.forward(x), r));
        assertGradient("LayerNorm dbeta", maxRelativeError(reg.get("b").value(), reg.get("b").grad(), () -> ln.forward(x), r));
    }

    @Test
    void geluBothForms() {
        for (Gelu.Form form : Gelu.Form.values()) {
            Gelu gelu = new Gelu(form);
            INDArray x = randn(5, 5, 7).muli(2), r = randn(6, 5, 7);
            gelu.forward(x);
            INDArray dx = gelu.backward(r);
            assertGradient("GELU " + form + " dx", maxRelativeError(x, dx, () -> new Gelu(form).forward(x), r));
        }
    }

    @Test
    void geluValuesMatchTheirDefinitions() {
        INDArray x = Nd4j.createFromArray(-3.0, -1.0, -0.1, 0.0, 0.5, 2.0);
        INDArray erf = new Gelu(Gelu.Form.ERF).forward(x), tanh = new Gelu(Gelu.Form.TANH).forward(x);
        // x·Φ(x) from the standard normal CDF, and the tanh form, computed independently here
        double[] expectedErf = {-0.004049694095, -0.158655253931, -0.046017216272, 0.0, 0.345731230637, 1.954499736104}; // python math.erf
        for (int i = 0; i < 6; i++) {
            double xi = x.getDouble(i);
            double expectedTanh = 0.5 * xi * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (xi + 0.044715 * xi * xi * xi)));
            assertEquals(expectedErf[i], erf.getDouble(i), 1e-9);
            assertEquals(expectedTanh, tanh.getDouble(i), 1e-12);
        }
    }

    @Test
    void softmaxCrossEntropyWithIgnoreIndex() {
        INDArray logits = randn(1, 5, 4).muli(3);
        int[] targets = {2, SoftmaxCrossEntropy.IGNORE_INDEX, 0, 3, SoftmaxCrossEntropy.IGNORE_INDEX};
        SoftmaxCrossEntropy ce = new SoftmaxCrossEntropy();
        ce.forward(logits, targets);
        INDArray d = ce.backward();
        assertGradient("SoftmaxCrossEntropy dlogits", maxRelativeError(logits, d, () -> new SoftmaxCrossEntropy().forward(logits, targets)));
        assertEquals(0.0, d.getRow(1).sumNumber().doubleValue(), "ignored rows get no gradient");
        assertEquals(3, ce.counted());
    }

    @Test
    void selfAttentionOverPackedSequencesWithLoraOnQueryAndValue() {
        for (boolean causal : new boolean[] {false, true}) {
            ParamRegistry reg = new ParamRegistry();
            LoraConfig cfg = new LoraConfig(2, 4, 0, List.of("query", "value"), false, LoraConfig.Init.GAUSSIAN, Map.of(), Map.of(), false);
            Projection q = proj(reg, cfg, "query", 11), k = proj(reg, cfg, "key", 12), v = proj(reg, cfg, "value", 13), o = proj(reg, cfg, "out", 14);
            SelfAttention attn = new SelfAttention(q, k, v, o, 2, causal);
            reg.allocate(org.nd4j.linalg.api.buffer.DataType.DOUBLE, 9);
            randomizeLoraB(reg);
            int[] starts = {0, 4, 8, 10, 14}; // lengths 4, 4, 2, 4: runs of equal length and single sequences
            INDArray x = randn(1, 14, 8), r = randn(2, 14, 8);
            attn.forward(x, starts);
            INDArray dx = attn.backward(r, true);
            String tag = causal ? "SelfAttention causal" : "SelfAttention";
            assertGradient(tag + " dx", maxRelativeError(x, dx, () -> attn.forward(x, starts), r));
            for (Param p : reg.params()) {
                assertGradient(tag + " d" + p.name(), maxRelativeError(p.value(), p.grad(), () -> attn.forward(x, starts), r));
            }
            assertEquals(4, reg.params().size(), "A and B of query and value only");
        }
    }

    @Test
    void packedSequencesAttendOnlyToThemselves() {
        for (boolean causal : new boolean[] {false, true}) {
            ParamRegistry reg = new ParamRegistry();
            LoraConfig none = LoraConfig.of(1, 1, List.of());
            SelfAttention attn = new SelfAttention(proj(reg, none, "q", 1), proj(reg, none, "k", 2), proj(reg, none, "v", 3), proj(reg, none, "o", 4), 2, causal);
            INDArray x = randn(5, 9, 8); // three sequences: 3, 2 and 4 tokens
            INDArray packed = attn.forward(x, new int[] {0, 3, 5, 9}).dup();
            int[][] alone = {{0, 3}, {3, 5}, {5, 9}};
            for (int[] s : alone) {
                INDArray own = attn.forward(x.get(NDArrayIndex.interval(s[0], s[1]), NDArrayIndex.all()).dup(), new int[] {0, s[1] - s[0]});
                INDArray inPack = packed.get(NDArrayIndex.interval(s[0], s[1]), NDArrayIndex.all());
                assertTrue(own.equalsWithEps(inPack, 1e-12), "sequence [" + s[0] + ", " + s[1] + ") differs when packed with others");
            }
        }
    }

    static Projection proj(ParamRegistry reg, LoraConfig cfg, String module, long seed) {
        Linear base = new Linear(frozen(module + ".weight", seed, 8, 8), frozen(module + ".bias", seed + 100, 8));
        if (!cfg.targets(module)) return base;
        return new LoraLinear(base, reg.trainable(module + ".lora_A.weight", new long[] {cfg.r(), 8}, cfg.initializerOfA(module)),
                reg.trainable(module + ".lora_B.weight", new long[] {8, cfg.r()}, Initializer.ZEROS), cfg.scaleFor(module), 0, seed);
    }

    static void randomizeLoraB(ParamRegistry reg) {
        long seed = 100;
        for (Param p : reg.params()) {
            if (p.name().endsWith("lora_B.weight")) p.value().assign(randn(seed++, p.shape()));
        }
    }
}
