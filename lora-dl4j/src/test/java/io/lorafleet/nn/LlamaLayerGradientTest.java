package io.lorafleet.nn;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.List;
import java.util.Map;

import static io.lorafleet.nn.GradientCheck.maxRelativeError;
import static io.lorafleet.nn.GradientCheck.randn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The Llama family's layers (RMSNorm, rotary positions, SwiGLU, grouped-query and sliding-window attention) against finite differences in float64. */
class LlamaLayerGradientTest {
    private static final double TOL = 1e-6;

    private static void assertGradient(String what, double error) {
        System.out.printf("%-44s max rel error %.2e%n", what, error);
        assertTrue(error <= TOL, what + ": max relative error " + error);
    }

    @Test
    void rmsNorm() {
        ParamRegistry reg = new ParamRegistry();
        RmsNorm norm = new RmsNorm(reg.trainable("w", new long[] {6}, Initializer.gaussian(1)), 1e-6);
        reg.allocate(DataType.DOUBLE, 3);
        INDArray x = randn(1, 4, 6).muli(3).addi(1), r = randn(2, 4, 6);
        INDArray y = norm.forward(x);
        INDArray dx = norm.backward(r);
        assertGradient("RMSNorm dx", maxRelativeError(x, dx, () -> norm.forward(x), r));
        assertGradient("RMSNorm dweight", maxRelativeError(reg.get("w").value(), reg.get("w").grad(), () -> norm.forward(x), r));
        double ms = 0;
        for (int j = 0; j < 6; j++) ms += x.getDouble(2, j) * x.getDouble(2, j) / 6;
        assertEquals(x.getDouble(2, 4) / Math.sqrt(ms + 1e-6) * reg.get("w").value().getDouble(4), y.getDouble(2, 4), 1e-12, "the definition");
    }

    @Test
    void swiGluWithLoraOnEveryProjection() {
        ParamRegistry reg = new ParamRegistry();
        LoraConfig cfg = new LoraConfig(2, 4, 0, List.of(LoraConfig.ALL_LINEAR), false, LoraConfig.Init.GAUSSIAN, Map.of(), Map.of(), false);
        SwiGlu mlp = new SwiGlu(proj(reg, cfg, "gate_proj", 1, 10, 6, false), proj(reg, cfg, "up_proj", 2, 10, 6, true), proj(reg, cfg, "down_proj", 3, 6, 10, false));
        reg.allocate(DataType.DOUBLE, 4);
        LayerGradientTest.randomizeLoraB(reg);
        INDArray x = randn(5, 7, 6), r = randn(6, 7, 6);
        mlp.forward(x);
        INDArray dx = mlp.backward(r, true);
        assertGradient("SwiGLU dx", maxRelativeError(x, dx, () -> mlp.forward(x), r));
        for (Param p : reg.params()) assertGradient("SwiGLU d" + p.name(), maxRelativeError(p.value(), p.grad(), () -> mlp.forward(x), r));
        assertEquals(6, reg.params().size(), "A and B of gate, up and down");
    }

    @Test
    void rotaryEmbeddingRotatesPairsAndItsInverseUndoesIt() {
        RotaryEmbedding rope = new RotaryEmbedding(new float[] {1f, 0.1f});
        RotaryEmbedding.Angles angles = rope.angles(new int[] {0, 3, 7});
        INDArray x = randn(1, 3, 8); // two heads of width 4
        INDArray y = RotaryEmbedding.rotate(x, angles, false);
        // token 1 (position 3), head 1, pair 0 = dimensions (4, 6), angle 3·1.0
        double c = Math.cos(3), s = Math.sin(3);
        assertEquals(x.getDouble(1, 4) * c - x.getDouble(1, 6) * s, y.getDouble(1, 4), 1e-12);
        assertEquals(x.getDouble(1, 6) * c + x.getDouble(1, 4) * s, y.getDouble(1, 6), 1e-12);
        assertTrue(x.getRow(0).equalsWithEps(y.getRow(0), 1e-15), "position 0 is not rotated");
        assertTrue(RotaryEmbedding.rotate(y, angles, true).equalsWithEps(x, 1e-12), "the inverse rotation undoes it");
        INDArray r = randn(2, 3, 8);
        assertGradient("rotary dx", maxRelativeError(x, RotaryEmbedding.rotate(r, angles, true), () -> RotaryEmbedding.rotate(x, angles, false), r));
    }

    @Test
    void groupedQueryAttentionWithRotaryPositionsAndSlidingWindow() {
        for (int window : new int[] {0, 2}) {
            for (int kvHeads : new int[] {4, 2, 1}) {
                ParamRegistry reg = new ParamRegistry();
                LoraConfig cfg = new LoraConfig(2, 4, 0, List.of(LoraConfig.ALL_LINEAR), false, LoraConfig.Init.GAUSSIAN, Map.of(), Map.of(), false);
                int hd = 4, heads = 4;
                GroupedQueryAttention attn = new GroupedQueryAttention(proj(reg, cfg, "q_proj", 11, heads * hd, 8, true),
                        proj(reg, cfg, "k_proj", 12, kvHeads * hd, 8, true), proj(reg, cfg, "v_proj", 13, kvHeads * hd, 8, true),
                        proj(reg, cfg, "o_proj", 14, 8, heads * hd, false), heads, kvHeads, window);
                reg.allocate(DataType.DOUBLE, 9);
                LayerGradientTest.randomizeLoraB(reg);
                int[] starts = {0, 4, 8, 10, 14};
                RotaryEmbedding.Angles angles = new RotaryEmbedding(new float[] {1f, 0.01f}).angles(new int[] {0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 5, 6, 7, 8});
                INDArray x = randn(1, 14, 8).muli(0.5), r = randn(2, 14, 8); // scores of a few units: finite differences resolve the softmax
                attn.forward(x, starts, angles);
                INDArray dx = attn.backward(r, true);
                String tag = "GQA " + heads + "/" + kvHeads + (window > 0 ? " window " + window : "");
                assertGradient(tag + " dx", maxRelativeError(x, dx, () -> attn.forward(x, starts, angles), r));
                for (Param p : reg.params()) assertGradient(tag + " d" + p.name(), maxRelativeError(p.value(), p.grad(), () -> attn.forward(x, starts, angles), r));
            }
        }
    }

    @Test
    void aSlidingWindowHidesKeysBeforeIt() {
        // with window 1 each query sees only itself: its context is its own value, whatever the scores
        INDArray q = randn(1, 5, 4), k = randn(2, 5, 4), v = randn(3, 5, 4);
        INDArray ctx = new AttentionCore(2, true, 1).forward(q, k, v, new int[] {0, 5});
        assertTrue(ctx.equalsWithEps(v, 1e-12), "window 1 → ctx = v");
        // a window at least as long as the sequence changes nothing
        INDArray full = new AttentionCore(2, true).forward(q, k, v, new int[] {0, 3, 5});
        assertTrue(new AttentionCore(2, true, 3).forward(q, k, v, new int[] {0, 3, 5}).equalsWithEps(full, 1e-12));
        // window 2: query 3 mixes values 2 and 3 only, so changing value 1 leaves it alone and changes query 2
        INDArray changed = v.dup();
        changed.getRow(1).addi(5);
        INDArray before = new AttentionCore(2, true, 2).forward(q, k, v, new int[] {0, 5}), after = new AttentionCore(2, true, 2).forward(q, k, changed, new int[] {0, 5});
        assertTrue(before.getRow(3).equalsWithEps(after.getRow(3), 1e-12) && !before.getRow(2).equalsWithEps(after.getRow(2), 1e-6));
    }

    @Test
    void theFloat32KernelsKeepTheWindowAsTheReferenceDoes() {
        INDArray q = randn(1, 21, 16), k = randn(2, 21, 16), v = randn(3, 21, 16), dctx = randn(4, 21, 16);
        int[] starts = {0, 9, 21};
        AttentionCore reference = new AttentionCore(2, true, 4), kernel = new AttentionCore(2, true, 4);
        INDArray expected = reference.forward(q, k, v, starts);
        INDArray[] expectedGrads = reference.backward(dctx);
        INDArray actual = kernel.forward(q.castTo(DataType.FLOAT), k.castTo(DataType.FLOAT), v.castTo(DataType.FLOAT), starts);
        INDArray[] grads = kernel.backward(dctx.castTo(DataType.FLOAT));
        assertTrue(actual.castTo(DataType.DOUBLE).equalsWithEps(expected, 1e-5), "ctx");
        for (int i = 0; i < 3; i++) assertTrue(grads[i].castTo(DataType.DOUBLE).equalsWithEps(expectedGrads[i], 1e-5), "gradient " + i);
    }

    @Test
    void theFloat32KernelsOfSwiGluAndRotaryPositionsComputeWhatTheReferenceDoes() {
        INDArray wg = randn(1, 40, 12), wu = randn(2, 40, 12), wd = randn(3, 12, 40).muli(0.2), x = randn(4, 37, 12), dy = randn(5, 37, 12);
        java.util.function.Function<DataType, INDArray[]> run = type -> {
            SwiGlu mlp = new SwiGlu(new Linear(Param.frozen("g", wg.castTo(type)), null), new Linear(Param.frozen("u", wu.castTo(type)), null),
                    new Linear(Param.frozen("d", wd.castTo(type)), null));
            INDArray y = mlp.forward(x.castTo(type));
            return new INDArray[] {y, mlp.backward(dy.castTo(type), true)};
        };
        INDArray[] reference = run.apply(DataType.DOUBLE), kernel = run.apply(DataType.FLOAT);
        for (int i = 0; i < 2; i++) {
            double scale = reference[i].amaxNumber().doubleValue(), error = kernel[i].castTo(DataType.DOUBLE).sub(reference[i]).amaxNumber().doubleValue();
            assertTrue(error <= 1e-5 * scale, (i == 0 ? "SwiGLU y" : "SwiGLU dx") + ": max error " + error + " of " + scale);
        }
        int[] positions = new int[37];
        for (int t = 0; t < positions.length; t++) positions[t] = 3 * t;
        RotaryEmbedding.Angles angles = new RotaryEmbedding(new float[] {1f, 0.3f, 0.1f, 0.03f, 0.01f, 0.003f, 0.001f, 3e-4f, 1e-4f, 3e-5f, 1e-5f, 3e-6f, 1e-6f, 3e-7f, 1e-7f, 3e-8f, 1e-8f})
                .angles(positions); // 17 pairs: a vector's worth and a remainder
        INDArray q = randn(6, 37, 68);
        for (boolean inverse : new boolean[] {false, true}) {
            INDArray expected = RotaryEmbedding.rotate(q, angles, inverse), actual = RotaryEmbedding.rotate(q.castTo(DataType.FLOAT), angles, inverse);
            assertTrue(actual.castTo(DataType.DOUBLE).equalsWithEps(expected, 1e-5), "rotary float32, inverse " + inverse);
        }
        // a column view (rows spaced, as in GPT-2's fused q, k, v) is read by its strides
        INDArray wide = randn(7, 37, 136).castTo(DataType.FLOAT), view = wide.get(NDArrayIndex.all(), NDArrayIndex.interval(68, 136));
        assertTrue(RotaryEmbedding.rotate(view, angles, false).equalsWithEps(RotaryEmbedding.rotate(view.dup(), angles, false), 0));
    }

    static Projection proj(ParamRegistry reg, LoraConfig cfg, String module, long seed, long out, long in, boolean bias) {
        Linear base = new Linear(Param.frozen(module + ".weight", randn(seed, out, in)), bias ? Param.frozen(module + ".bias", randn(seed + 100, out)) : null);
        if (!cfg.targets(module)) return base;
        return new LoraLinear(base, reg.trainable(module + ".lora_A.weight", new long[] {cfg.r(), in}, cfg.initializerOfA(module)),
                reg.trainable(module + ".lora_B.weight", new long[] {out, cfg.r()}, Initializer.ZEROS), cfg.scaleFor(module), 0, seed);
    }
}
