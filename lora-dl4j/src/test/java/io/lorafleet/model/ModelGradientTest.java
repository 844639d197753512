package io.lorafleet.model;

import static io.lorafleet.nn.ExactArrays.assertBitIdentical;
import io.lorafleet.nn.LoraConfig;
import io.lorafleet.nn.Param;
import io.lorafleet.nn.ParamRegistry;
import io.lorafleet.nn.SoftmaxCrossEntropy;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static io.lorafleet.nn.GradientCheck.maxRelativeError;
import static io.lorafleet.nn.GradientCheck.randn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Whole 2-layer encoder and decoder stacks with LoRA against finite differences in float64. */
class ModelGradientTest {
    private static final double TOL = 1e-6;
    static final TransformerConfig BERT = TransformerConfig.bert(17, 8, 2, 2, 12, 10);
    static final TransformerConfig GPT2 = TransformerConfig.gpt2(19, 8, 2, 2, 10);
    /** Llama with GQA (2 query heads share 1 k/v head of width 4), llama3 rope scaling, every bias, its own lm_head. */
    static final TransformerConfig LLAMA = TransformerConfig.llama(Architecture.LLAMA, 19, 8, 2, 2, 12, 16, 1e-6, new TransformerConfig.Llama(1, 4,
            new TransformerConfig.Rope(500000, "llama3", 8, 1, 4, 4), false, true, true, true, List.of(0, 0)));
    /** Qwen2: q/k/v biases, tied embeddings, a sliding window of 2 in its second layer. */
    static final TransformerConfig QWEN2 = TransformerConfig.llama(Architecture.QWEN2, 19, 8, 2, 2, 12, 16, 1e-6, new TransformerConfig.Llama(2, 4,
            TransformerConfig.Rope.plain(10000), true, true, false, false, List.of(0, 2)));
    /** Mistral: no biases, a sliding window of 3 everywhere. */
    static final TransformerConfig MISTRAL = TransformerConfig.llama(Architecture.MISTRAL, 19, 8, 2, 4, 12, 16, 1e-5, new TransformerConfig.Llama(2, 2,
            TransformerConfig.Rope.plain(10000), false, false, false, false, List.of(3, 3)));
    static final LoraConfig QV = new LoraConfig(2, 4, 0, List.of("query", "value"), false, LoraConfig.Init.KAIMING_UNIFORM, Map.of(), Map.of(), false);

    /** Two sequences of 5 tokens, the second with 2 padding positions. */
    static TokenBatch batch(int vocab, int[] labels) {
        int[] ids = {3, 7, 1, 9, 2, 5, 11, 4, 0, 0};
        int[] mask = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
        for (int i = 0; i < ids.length; i++) ids[i] %= vocab;
        return new TokenBatch(2, 5, ids, null, mask, labels);
    }

    private static void assertGradient(String what, double error) {
        System.out.printf("%-60s max rel error %.2e%n", what, error);
        assertTrue(error <= TOL, what + ": max relative error " + error);
    }

    /** LoRA's B starts at zero; random values make every gradient path non-zero so that all are checked. */
    static void randomizeLoraB(ParamRegistry reg) {
        long seed = 1000;
        for (Param p : reg.params()) if (p.name().endsWith("lora_B.weight")) p.value().assign(randn(seed++, p.shape()).muli(0.5));
    }

    private static void checkAllTrainables(String tag, TaskModel model, TokenBatch batch) {
        model.params().zeroGrads();
        model.forwardBackward(batch);
        for (Param p : model.params().params()) {
            assertGradient(tag + " d" + p.name(), maxRelativeError(p.value(), p.grad(), () -> model.loss(batch)));
        }
    }

    @Test
    void encoderClassifierWithLoraOnQueryAndValue() {
        for (SequenceClassifier.Pooling pooling : SequenceClassifier.Pooling.values()) {
            SequenceClassifier model = SequenceClassifier.create(BERT, ModelWeights.random(BERT, DataType.DOUBLE, 1), QV, 3, pooling, 7);
            randomizeLoraB(model.params());
            List<String> names = model.params().params().stream().map(Param::name).toList();
            List<String> expected = new ArrayList<>(List.of(
                    "encoder.layer.0.attention.self.query.lora_A.weight", "encoder.layer.0.attention.self.query.lora_B.weight",
                    "encoder.layer.0.attention.self.value.lora_A.weight", "encoder.layer.0.attention.self.value.lora_B.weight",
                    "encoder.layer.1.attention.self.query.lora_A.weight", "encoder.layer.1.attention.self.query.lora_B.weight",
                    "encoder.layer.1.attention.self.value.lora_A.weight", "encoder.layer.1.attention.self.value.lora_B.weight"));
            if (pooling == SequenceClassifier.Pooling.HF) expected.addAll(List.of("pooler.dense.weight", "pooler.dense.bias"));
            expected.addAll(List.of("classifier.weight", "classifier.bias"));
            assertEquals(expected, names, "only A, B and the head are trainable");
            checkAllTrainables("encoder " + pooling, model, batch(BERT.vocabSize(), new int[] {2, 0}));
        }
    }

    @Test
    void huggingFaceHeadsStartFromTheCheckpointsPoolerAndGpt2ScoresItsLastTokenWithoutBias() {
        ModelWeights withPooler = ModelWeights.random(BERT, DataType.DOUBLE, 1);
        Map<String, INDArray> tensors = new java.util.LinkedHashMap<>(withPooler.asMap());
        tensors.put("pooler.dense.weight", randn(21, 8, 8));
        tensors.put("pooler.dense.bias", randn(22, 8));
        SequenceClassifier bert = SequenceClassifier.create(BERT, new ModelWeights(tensors, "with pooler"), QV, 3, SequenceClassifier.Pooling.HF, 7);
        assertBitIdentical(tensors.get("pooler.dense.weight"), bert.params().get("pooler.dense.weight").value(), "the checkpoint's pooler");

        LoraConfig cAttn = new LoraConfig(2, 4, 0, List.of("c_attn"), false, LoraConfig.Init.GAUSSIAN, Map.of(), Map.of(), false);
        SequenceClassifier gpt2 = SequenceClassifier.create(GPT2, ModelWeights.random(GPT2, DataType.DOUBLE, 4), cAttn, 3, SequenceClassifier.Pooling.HF, 9);
        randomizeLoraB(gpt2.params());
        assertEquals(List.of("score.weight"), gpt2.params().params().stream().map(Param::name).filter(n -> !n.contains("lora_")).toList());
        TokenBatch b = batch(GPT2.vocabSize(), new int[] {2, 0});
        checkAllTrainables("decoder classifier HF", gpt2, b);
        // the last real token decides: changing an earlier one of a causal decoder's tokens changes it, as does the last itself
        INDArray logits = gpt2.logits(b);
        int[] ids = b.inputIds().clone();
        ids[7] = (ids[7] + 1) % GPT2.vocabSize(); // sequence 1's last real token (positions 5..7 are real)
        INDArray changed = gpt2.logits(new TokenBatch(2, 5, ids, null, b.attentionMask(), b.labels()));
        assertBitIdentical(logits.getRow(0), changed.getRow(0), "sequence 0 untouched");
        assertTrue(logits.getRow(1).sub(changed.getRow(1)).norm2Number().doubleValue() > 0, "sequence 1 reads its last real token");
    }

    @Test
    void encoderStackInputGradient() {
        ModelWeights w = ModelWeights.random(BERT, DataType.DOUBLE, 2);
        ParamRegistry reg = new ParamRegistry();
        Tuning tuning = Tuning.lora(QV, reg, 3);
        List<EncoderBlock> layers = new ArrayList<>();
        for (int i = 0; i < 2; i++) layers.add(new EncoderBlock(BERT, new CheckpointLayers(BERT, w, tuning), i));
        reg.allocate(DataType.DOUBLE, 3);
        randomizeLoraB(reg);
        int[] starts = PackedBatch.of(batch(BERT.vocabSize(), null)).starts();
        INDArray x = randn(4, 8, 8), r = randn(5, 8, 8);
        java.util.function.Supplier<INDArray> forward = () -> {
            INDArray h = x;
            for (EncoderBlock layer : layers) h = layer.forward(h, starts);
            return h;
        };
        forward.get();
        INDArray d = r;
        for (int i = layers.size() - 1; i >= 0; i--) d = layers.get(i).backward(d, true);
        assertGradient("2-layer encoder dx", maxRelativeError(x, d, forward, r));
    }

    @Test
    void decoderLmWithLoraOnFusedAttention() {
        LoraConfig cAttn = new LoraConfig(2, 4, 0, List.of("c_attn"), false, LoraConfig.Init.GAUSSIAN, Map.of(), Map.of(), false);
        CausalLm model = CausalLm.create(GPT2, ModelWeights.random(GPT2, DataType.DOUBLE, 4), cAttn, 9);
        randomizeLoraB(model.params());
        assertEquals(4, model.params().params().size(), "A and B of c_attn in each of 2 blocks");
        TokenBatch b = batch(GPT2.vocabSize(), null);
        TokenBatch lm = new TokenBatch(2, 5, b.inputIds(), null, b.attentionMask(), b.inputIds());
        checkAllTrainables("decoder", model, lm);
    }

    @Test
    void llamaFamilyLmWithLoraOnAllLinear() {
        LoraConfig all = new LoraConfig(2, 4, 0, List.of(LoraConfig.ALL_LINEAR), false, LoraConfig.Init.GAUSSIAN, Map.of(), Map.of(), false);
        for (TransformerConfig c : List.of(LLAMA, QWEN2, MISTRAL)) {
            CausalLm model = CausalLm.create(c, ModelWeights.random(c, DataType.DOUBLE, 4), all, 9);
            randomizeLoraB(model.params());
            assertEquals(2 * 7 * 2, model.params().params().size(), c.architecture() + ": A and B of 7 projections in each of 2 layers");
            TokenBatch b = batch(c.vocabSize(), null);
            checkAllTrainables(c.architecture().modelType(), model, new TokenBatch(2, 5, b.inputIds(), null, b.attentionMask(), b.inputIds()));
        }
    }

    @Test
    void llamaFullFineTuningTrainsTheTiedEmbeddingThroughBothItsUses() {
        CausalLm model = CausalLm.create(QWEN2, ModelWeights.random(QWEN2, DataType.DOUBLE, 6), null, 8);
        assertEquals(ModelWeights.random(QWEN2, DataType.DOUBLE, 6).totalParameters(), model.params().size(), "every tensor, the tied embedding once");
        TokenBatch b = batch(QWEN2.vocabSize(), null);
        checkAllTrainables("qwen2 full", model, new TokenBatch(2, 5, b.inputIds(), null, b.attentionMask(), b.inputIds()));
    }

    @Test
    void aLlamaClassifierScoresItsLastTokenAndIgnoresPadding() {
        LoraConfig qv = new LoraConfig(2, 4, 0, List.of("q_proj", "v_proj"), false, LoraConfig.Init.GAUSSIAN, Map.of(), Map.of(), false);
        SequenceClassifier model = SequenceClassifier.create(LLAMA, ModelWeights.random(LLAMA, DataType.DOUBLE, 4), qv, 3, SequenceClassifier.Pooling.HF, 9);
        assertEquals(List.of("score.weight"), model.params().params().stream().map(Param::name).filter(n -> !n.contains("lora_")).toList());
        checkAllTrainables("llama classifier", model, batch(LLAMA.vocabSize(), new int[] {2, 0}));
        assertPaddingChangesNothing("llama classifier", model, batch(LLAMA.vocabSize(), new int[] {2, 0}));
    }

    @Test
    void decoderStackInputGradientIsCausal() {
        ModelWeights w = ModelWeights.random(GPT2, DataType.DOUBLE, 5);
        ParamRegistry reg = new ParamRegistry();
        Tuning tuning = Tuning.lora(new LoraConfig(2, 4, 0, List.of("c_attn"), false, LoraConfig.Init.GAUSSIAN, Map.of(), Map.of(), false), reg, 3);
        List<DecoderBlock> blocks = List.of(new DecoderBlock(GPT2, new CheckpointLayers(GPT2, w, tuning), 0), new DecoderBlock(GPT2, new CheckpointLayers(GPT2, w, tuning), 1));
        reg.allocate(DataType.DOUBLE, 3);
        randomizeLoraB(reg);
        int[] starts = PackedBatch.of(batch(GPT2.vocabSize(), null)).starts();
        INDArray x = randn(6, 8, 8), r = randn(7, 8, 8);
        java.util.function.Supplier<INDArray> forward = () -> blocks.get(1).forward(blocks.get(0).forward(x, starts), starts);
        forward.get();
        INDArray dx = blocks.get(0).backward(blocks.get(1).backward(r, true), true);
        assertGradient("2-layer decoder dx", maxRelativeError(x, dx, forward, r));
        // causality: the output at position 1 does not depend on the input at position 3
        INDArray r1 = r.mul(0);
        r1.getRow(1).assign(1);
        forward.get();
        INDArray dx1 = blocks.get(0).backward(blocks.get(1).backward(r1, true), true);
        assertEquals(0.0, dx1.getRow(3).norm2Number().doubleValue(), 0.0);
    }

    @Test
    void fullFineTuningOfEveryTensor() {
        SequenceClassifier model = SequenceClassifier.create(BERT, ModelWeights.random(BERT, DataType.DOUBLE, 6), null, 2,
                SequenceClassifier.Pooling.MEAN, 8);
        long pretrained = ModelWeights.random(BERT, DataType.DOUBLE, 6).totalParameters();
        assertEquals(pretrained + 2 * 8 + 2, model.params().size(), "every pretrained tensor plus the head is trainable");
        checkAllTrainables("full", model, batch(BERT.vocabSize(), new int[] {1, 0}));
    }

    @Test
    void paddingChangesNothing() {
        for (SequenceClassifier.Pooling pooling : SequenceClassifier.Pooling.values()) {
            SequenceClassifier model = SequenceClassifier.create(BERT, ModelWeights.random(BERT, DataType.DOUBLE, 1), QV, 3, pooling, 7);
            assertPaddingChangesNothing("encoder, " + pooling + " pooling", model, batch(BERT.vocabSize(), new int[] {2, 0}));
        }
        LoraConfig cAttn = new LoraConfig(2, 4, 0, List.of("c_attn"), false, LoraConfig.Init.GAUSSIAN, Map.of(), Map.of(), false);
        TokenBatch b = batch(GPT2.vocabSize(), null);
        assertPaddingChangesNothing("decoder LM", CausalLm.create(GPT2, ModelWeights.random(GPT2, DataType.DOUBLE, 4), cAttn, 9),
                new TokenBatch(2, 5, b.inputIds(), null, b.attentionMask(), b.inputIds()));
        LoraConfig all = new LoraConfig(2, 4, 0, List.of(LoraConfig.ALL_LINEAR), false, LoraConfig.Init.GAUSSIAN, Map.of(), Map.of(), false);
        assertPaddingChangesNothing("mistral LM", CausalLm.create(MISTRAL, ModelWeights.random(MISTRAL, DataType.DOUBLE, 4), all, 9),
                new TokenBatch(2, 5, b.inputIds(), null, b.attentionMask(), b.inputIds()));

        SequenceClassifier model = SequenceClassifier.create(BERT, ModelWeights.random(BERT, DataType.DOUBLE, 1), QV, 3,
                SequenceClassifier.Pooling.MEAN, 7);
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> model.forwardBackward(new TokenBatch(2, 2, new int[] {1, 2, 0, 0}, null, new int[] {1, 1, 0, 0}, new int[] {0, 1})));
        assertTrue(e.getMessage().contains("sequence 1") && e.getMessage().contains("no real token"), e.getMessage());
    }

    /** The same rows with 7 more padding positions each (holding arbitrary ids and labels) give the same loss and gradients, bit for bit. */
    private static void assertPaddingChangesNothing(String what, TaskModel model, TokenBatch tight) {
        randomizeLoraB(model.params());
        int extra = 7, t = tight.seqLen() + extra;
        boolean perToken = tight.labels().length == tight.inputIds().length;
        int[] ids = new int[2 * t], mask = new int[2 * t], labels = perToken ? new int[2 * t] : tight.labels();
        for (int b = 0; b < 2; b++) {
            System.arraycopy(tight.inputIds(), b * tight.seqLen(), ids, b * t, tight.seqLen());
            System.arraycopy(tight.attentionMask(), b * tight.seqLen(), mask, b * t, tight.seqLen());
            java.util.Arrays.fill(ids, b * t + tight.seqLen(), (b + 1) * t, 13); // padding holds arbitrary ids
            if (perToken) {
                System.arraycopy(tight.labels(), b * tight.seqLen(), labels, b * t, tight.seqLen());
                java.util.Arrays.fill(labels, b * t + tight.seqLen(), (b + 1) * t, 5);
            }
        }
        TokenBatch loose = new TokenBatch(2, t, ids, null, mask, labels);
        model.params().zeroGrads();
        double lossTight = model.forwardBackward(tight);
        INDArray gradsTight = model.params().grads().dup();
        model.params().zeroGrads();
        double lossLoose = model.forwardBackward(loose);
        assertEquals(lossTight, lossLoose, 0.0, what + ": loss with " + extra + " more padding positions");
        assertBitIdentical(gradsTight, model.params().grads(), what + ": gradients with " + extra + " more padding positions");
    }

    @Test
    void dropoutMasksDoNotDependOnPadding() {
        LoraConfig dropped = new LoraConfig(2, 4, 0.3, List.of("query", "value"), false, LoraConfig.Init.KAIMING_UNIFORM, Map.of(), Map.of(), false);
        TokenBatch tight = batch(BERT.vocabSize(), new int[] {2, 0});
        int t = tight.seqLen() + 6;
        int[] ids = new int[2 * t], mask = new int[2 * t];
        for (int b = 0; b < 2; b++) {
            System.arraycopy(tight.inputIds(), b * tight.seqLen(), ids, b * t, tight.seqLen());
            System.arraycopy(tight.attentionMask(), b * tight.seqLen(), mask, b * t, tight.seqLen());
        }
        TokenBatch loose = new TokenBatch(2, t, ids, null, mask, tight.labels());
        INDArray[] grads = new INDArray[2];
        double[] losses = new double[2];
        TokenBatch[] batches = {tight, loose};
        for (int k = 0; k < 2; k++) { // two models from one seed: the same dropout stream
            SequenceClassifier model = SequenceClassifier.create(BERT, ModelWeights.random(BERT, DataType.DOUBLE, 1), dropped, 3,
                    SequenceClassifier.Pooling.MEAN, 7);
            randomizeLoraB(model.params());
            model.setTraining(true, 5);
            model.params().zeroGrads();
            losses[k] = model.forwardBackward(batches[k]);
            grads[k] = model.params().grads().dup();
        }
        SequenceClassifier plain = SequenceClassifier.create(BERT, ModelWeights.random(BERT, DataType.DOUBLE, 1), QV, 3, SequenceClassifier.Pooling.MEAN, 7);
        randomizeLoraB(plain.params());
        plain.setTraining(true, 5);
        assertTrue(plain.forwardBackward(tight) != losses[0], "dropout is on in training (else this test proves nothing)");
        assertEquals(losses[0], losses[1], 0.0, "loss with dropout and 6 more padding positions");
        assertBitIdentical(grads[0], grads[1], "gradients with dropout and 6 more padding positions");
    }

    @Test
    void lmTargetsAreShiftedWithinEachSequence() {
        TokenBatch b = new TokenBatch(2, 4, new int[] {5, 6, 7, 0, 8, 9, 10, 11}, null, new int[] {1, 1, 1, 0, 1, 1, 1, 1},
                new int[] {5, 6, 7, 0, 8, 9, 10, 11});
        int ignore = SoftmaxCrossEntropy.IGNORE_INDEX;
        org.junit.jupiter.api.Assertions.assertArrayEquals(new int[] {6, 7, ignore, 9, 10, 11, ignore}, new LmHead(null).targets(PackedBatch.of(b)));
    }
}
