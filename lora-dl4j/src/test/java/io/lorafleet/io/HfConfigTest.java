package io.lorafleet.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lorafleet.model.TransformerConfig;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

import java.io.IOException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** config.json: every required key, when missing or of the wrong type, is named with the file. */
class HfConfigTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String SOURCE = "hdfs://nn/models/m/config.json";

    static ObjectNode valid(String type) throws IOException {
        TransformerConfig c = type.equals("bert") ? TransformerConfig.bert(1000, 64, 2, 4, 256, 128) : TransformerConfig.gpt2(1000, 64, 2, 4, 128);
        return (ObjectNode) JSON.readTree(HfConfig.write(c));
    }

    @ParameterizedTest
    @CsvSource({"bert,model_type", "bert,vocab_size", "bert,hidden_size", "bert,num_hidden_layers", "bert,num_attention_heads",
            "bert,intermediate_size", "bert,max_position_embeddings", "gpt2,vocab_size", "gpt2,n_embd", "gpt2,n_layer", "gpt2,n_head",
            "gpt2,n_positions"})
    void aMissingKeyIsNamed(String type, String key) throws IOException {
        ObjectNode config = valid(type);
        config.remove(key);
        IOException e = assertThrows(IOException.class, () -> HfConfig.parse(JSON.writeValueAsBytes(config), SOURCE));
        assertEquals(SOURCE + ": missing key " + key, e.getMessage());
    }

    @ParameterizedTest
    @CsvSource({"bert,hidden_size", "bert,layer_norm_eps", "bert,hidden_act", "gpt2,n_layer", "gpt2,layer_norm_epsilon",
            "gpt2,activation_function"})
    void aWrongTypeIsNamed(String type, String key) throws IOException {
        ObjectNode config = valid(type);
        config.putArray(key);
        IOException e = assertThrows(IOException.class, () -> HfConfig.parse(JSON.writeValueAsBytes(config), SOURCE));
        assertTrue(e.getMessage().startsWith(SOURCE + ": " + key + " must be"), e.getMessage());
    }

    @Test
    void inconsistentShapesAndUnknownValuesAreNamed() throws IOException {
        ObjectNode heads = valid("bert").put("num_attention_heads", 5);
        IOException e = assertThrows(IOException.class, () -> HfConfig.parse(JSON.writeValueAsBytes(heads), SOURCE));
        assertTrue(e.getMessage().startsWith(SOURCE + ": "), e.getMessage());
        ObjectNode act = valid("bert").put("hidden_act", "swish");
        e = assertThrows(IOException.class, () -> HfConfig.parse(JSON.writeValueAsBytes(act), SOURCE));
        assertTrue(e.getMessage().contains("hidden_act") && e.getMessage().contains("swish"), e.getMessage());
        ObjectNode type = valid("bert").put("model_type", "llama");
        e = assertThrows(IOException.class, () -> HfConfig.parse(JSON.writeValueAsBytes(type), SOURCE));
        assertTrue(e.getMessage().contains("llama"), e.getMessage());
    }

    @Test
    void writeThenParseIsTheSameConfig() throws IOException {
        for (String type : new String[] {"bert", "gpt2"}) {
            TransformerConfig c = HfConfig.parse(JSON.writeValueAsBytes(valid(type)), SOURCE);
            assertEquals(c, HfConfig.parse(HfConfig.write(c), SOURCE));
        }
    }
}
