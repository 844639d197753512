package io.lorafleet.model;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Each architecture's one layout says what every checkpoint tensor is: LoRA's targets and random weights follow from it. */
class CheckpointLayoutTest {
    @Test
    void projectionsAreWhatLoraCanTargetInCheckpointOrder() {
        List<String> bert = ModelWeights.projectionModules(ModelGradientTest.BERT);
        assertEquals(List.of("encoder.layer.0.attention.self.query", "encoder.layer.0.attention.self.key", "encoder.layer.0.attention.self.value",
                "encoder.layer.0.attention.output.dense", "encoder.layer.0.intermediate.dense", "encoder.layer.0.output.dense"), bert.subList(0, 6));
        assertEquals(12, bert.size(), "6 per layer, no embedding");
        assertEquals(List.of("h.0.attn.c_attn", "h.0.attn.c_proj", "h.0.mlp.c_fc", "h.0.mlp.c_proj", "h.1.attn.c_attn", "h.1.attn.c_proj",
                "h.1.mlp.c_fc", "h.1.mlp.c_proj"), ModelWeights.projectionModules(ModelGradientTest.GPT2));
    }

    @Test
    void randomWeightsStartNormsAtOneAndZero() {
        ModelWeights w = ModelWeights.random(ModelGradientTest.GPT2, DataType.FLOAT, 3);
        assertEquals(8.0, w.asMap().get("h.1.ln_2.weight").sumNumber().doubleValue());
        assertEquals(0.0, w.asMap().get("ln_f.bias").sumNumber().doubleValue());
        assertEquals(0.02, w.asMap().get("wte.weight").stdNumber().doubleValue(), 0.004, "N(0, 0.02)");
        ModelWeights b = ModelWeights.random(ModelGradientTest.BERT, DataType.DOUBLE, 3);
        assertEquals(8.0, b.asMap().get("embeddings.LayerNorm.weight").sumNumber().doubleValue());
        assertEquals(0.0, b.asMap().get("encoder.layer.1.output.LayerNorm.bias").sumNumber().doubleValue());
    }
}
