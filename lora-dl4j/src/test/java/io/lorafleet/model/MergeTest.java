package io.lorafleet.model;

import io.lorafleet.nn.LoraConfig;
import io.lorafleet.nn.LoraLinear;
import io.lorafleet.nn.Param;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static io.lorafleet.nn.GradientCheck.randn;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** W' = W + s·B·A in float32: the merged forward equals the adapter's, and unmerging restores W. */
class MergeTest {
    private static void randomizeLora(TaskModel model) {
        long seed = 77;
        for (Param p : model.params().params()) {
            if (p.name().contains("lora_")) p.value().assign(randn(seed++, p.shape()).muli(0.1).castTo(DataType.FLOAT));
        }
    }

    private static void checkMerge(TaskModel model, TokenBatch batch) {
        randomizeLora(model);
        List<INDArray> before = new ArrayList<>();
        for (LoraLinear l : model.loraLayers()) before.add(l.base().weightValue().dup());
        INDArray unmerged = model.logits(batch).dup();
        model.merge();
        INDArray merged = model.logits(batch).dup();
        double diff = Math.abs(unmerged.sub(merged).maxNumber().doubleValue()) + Math.abs(unmerged.sub(merged).minNumber().doubleValue());
        model.unmerge();
        double restored = 0;
        for (int i = 0; i < before.size(); i++) {
            INDArray d = model.loraLayers().get(i).base().weightValue().sub(before.get(i));
            restored = Math.max(restored, Math.max(d.maxNumber().doubleValue(), -d.minNumber().doubleValue()));
        }
        System.out.printf("%s: merged vs unmerged logits %.2e, W after merge→unmerge %.2e%n", model.config().architecture(), diff, restored);
        assertTrue(diff <= 1e-5, "merged forward differs by " + diff);
        assertTrue(restored <= 1e-6, "unmerge left W off by " + restored);
        assertTrue(model.logits(batch).equalsWithEps(unmerged, 1e-5));
    }

    @Test
    void encoderMergeEqualsAdapterForward() {
        TransformerConfig c = TransformerConfig.bert(100, 64, 2, 4, 128, 64);
        LoraConfig lora = new LoraConfig(8, 16, 0, List.of("query", "key", "value", "dense"), false, LoraConfig.Init.KAIMING_UNIFORM, Map.of(), Map.of(), false);
        SequenceClassifier model = SequenceClassifier.create(c, ModelWeights.random(c, DataType.FLOAT, 1), lora, 3, SequenceClassifier.Pooling.CLS, 2);
        checkMerge(model, ModelGradientTest.batch(100, new int[] {0, 1}));
        model.merge();
        assertThrows(IllegalStateException.class, model::merge, "merging twice");
        assertThrows(IllegalStateException.class, () -> model.forwardBackward(ModelGradientTest.batch(100, new int[] {0, 1})), "training a merged model");
    }

    @Test
    void decoderMergeEqualsAdapterForward() {
        TransformerConfig c = TransformerConfig.gpt2(100, 64, 2, 4, 64);
        LoraConfig lora = new LoraConfig(4, 8, 0, List.of("c_attn", "c_proj"), true, LoraConfig.Init.GAUSSIAN, Map.of(), Map.of(), false);
        CausalLm model = CausalLm.create(c, ModelWeights.random(c, DataType.FLOAT, 3), lora, 4);
        checkMerge(model, ModelGradientTest.batch(100, null));
    }
}
