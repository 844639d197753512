package io.lorafleet.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lorafleet.model.Architecture;
import io.lorafleet.model.TransformerConfig;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** config.json: every required key, when missing or of the wrong type, is named with the file. */
class HfConfigTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String SOURCE = "hdfs://nn/models/m/config.json";

    static ObjectNode valid(String type) throws IOException {
        TransformerConfig c = switch (type) {
            case "bert" -> TransformerConfig.bert(1000, 64, 2, 4, 256, 128);
            case "gpt2" -> TransformerConfig.gpt2(1000, 64, 2, 4, 128);
            default -> TransformerConfig.llama(Architecture.ofModelType(type), 1000, 64, 2, 4, 256, 128, 1e-6, new TransformerConfig.Llama(2, 16,
                    TransformerConfig.Rope.plain(10000), false, type.equals("qwen2"), false, false, List.of(0, 0)));
        };
        return (ObjectNode) JSON.readTree(HfConfig.write(c));
    }

    @ParameterizedTest
    @CsvSource({"bert,model_type", "bert,vocab_size", "bert,hidden_size", "bert,num_hidden_layers", "bert,num_attention_heads",
            "bert,intermediate_size", "bert,max_position_embeddings", "gpt2,vocab_size", "gpt2,n_embd", "gpt2,n_layer", "gpt2,n_head",
            "gpt2,n_positions", "llama,hidden_size", "llama,intermediate_size", "mistral,num_hidden_layers", "qwen2,num_attention_heads",
            "qwen2,max_position_embeddings"})
    void aMissingKeyIsNamed(String type, String key) throws IOException {
        ObjectNode config = valid(type);
        config.remove(key);
        IOException e = assertThrows(IOException.class, () -> HfConfig.parse(JSON.writeValueAsBytes(config), SOURCE));
        assertEquals(SOURCE + ": missing key " + key, e.getMessage());
    }

    @ParameterizedTest
    @CsvSource({"bert,hidden_size", "bert,layer_norm_eps", "bert,hidden_act", "gpt2,n_layer", "gpt2,layer_norm_epsilon",
            "gpt2,activation_function", "llama,num_key_value_heads", "llama,rms_norm_eps", "llama,tie_word_embeddings", "qwen2,head_dim"})
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
        ObjectNode type = valid("bert").put("model_type", "t5");
        e = assertThrows(IOException.class, () -> HfConfig.parse(JSON.writeValueAsBytes(type), SOURCE));
        assertTrue(e.getMessage().contains("'t5'"), e.getMessage());
        ObjectNode kv = valid("llama").put("num_key_value_heads", 3);
        e = assertThrows(IOException.class, () -> HfConfig.parse(JSON.writeValueAsBytes(kv), SOURCE));
        assertTrue(e.getMessage().startsWith(SOURCE + ": ") && e.getMessage().contains("num_key_value_heads 3"), e.getMessage());
        ObjectNode gelu = valid("llama").put("hidden_act", "gelu");
        e = assertThrows(IOException.class, () -> HfConfig.parse(JSON.writeValueAsBytes(gelu), SOURCE));
        assertTrue(e.getMessage().contains("hidden_act 'gelu'"), e.getMessage());
        ObjectNode yarn = valid("llama");
        yarn.putObject("rope_parameters").put("rope_type", "yarn").put("factor", 4.0);
        e = assertThrows(IOException.class, () -> HfConfig.parse(JSON.writeValueAsBytes(yarn), SOURCE));
        assertTrue(e.getMessage().contains("rope_parameters type 'yarn'"), e.getMessage());
        ObjectNode partial = valid("llama").put("partial_rotary_factor", 0.5);
        e = assertThrows(IOException.class, () -> HfConfig.parse(JSON.writeValueAsBytes(partial), SOURCE));
        assertTrue(e.getMessage().contains("partial_rotary_factor"), e.getMessage());
    }

    @Test
    void llamaConfigsInTheOlderRopeKeysAndQwen2WindowsByLayer() throws IOException {
        // Llama 3.1's config.json as published: rope_theta beside rope_scaling {"rope_type": "llama3", ...}
        ObjectNode llama31 = valid("llama");
        llama31.remove("rope_parameters");
        llama31.put("rope_theta", 500000.0).putObject("rope_scaling").put("rope_type", "llama3").put("factor", 8.0).put("low_freq_factor", 1.0)
                .put("high_freq_factor", 4.0).put("original_max_position_embeddings", 8192);
        TransformerConfig.Rope rope = HfConfig.parse(JSON.writeValueAsBytes(llama31), SOURCE).llama().rope();
        assertEquals(new TransformerConfig.Rope(500000, "llama3", 8, 1, 4, 8192), rope);
        // older Llama 2 style: {"type": "linear", "factor": 2}
        ObjectNode linear = valid("llama");
        linear.remove("rope_parameters");
        linear.putObject("rope_scaling").put("type", "linear").put("factor", 2.0);
        assertEquals(new TransformerConfig.Rope(10000, "linear", 2, 0, 0, 0), HfConfig.parse(JSON.writeValueAsBytes(linear), SOURCE).llama().rope());
        // Qwen2 without layer_types: sliding from max_window_layers on, only when use_sliding_window
        ObjectNode qwen = valid("qwen2");
        qwen.remove("layer_types");
        qwen.put("use_sliding_window", true).put("sliding_window", 7).put("max_window_layers", 1);
        assertEquals(List.of(0, 7), HfConfig.parse(JSON.writeValueAsBytes(qwen), SOURCE).llama().slidingWindows());
        qwen.put("use_sliding_window", false);
        assertEquals(List.of(0, 0), HfConfig.parse(JSON.writeValueAsBytes(qwen), SOURCE).llama().slidingWindows());
        // Mistral: one window for every layer, or none
        ObjectNode mistral = valid("mistral").put("sliding_window", 5);
        assertEquals(List.of(5, 5), HfConfig.parse(JSON.writeValueAsBytes(mistral), SOURCE).llama().slidingWindows());
        mistral.putNull("sliding_window");
        assertEquals(List.of(0, 0), HfConfig.parse(JSON.writeValueAsBytes(mistral), SOURCE).llama().slidingWindows(), "null: no window");
        // transformers' defaults for absent keys: a window of 4096, Mistral's 8 key/value heads, Qwen2's 32
        mistral.remove("sliding_window");
        mistral.remove("num_key_value_heads");
        mistral.put("num_attention_heads", 16);
        TransformerConfig defaults = HfConfig.parse(JSON.writeValueAsBytes(mistral), SOURCE);
        assertEquals(List.of(4096, 4096), defaults.llama().slidingWindows());
        assertEquals(8, defaults.llama().numKeyValueHeads());
        qwen.remove("sliding_window");
        qwen.remove("num_key_value_heads");
        qwen.put("use_sliding_window", true).put("num_attention_heads", 32);
        assertEquals(List.of(0, 4096), HfConfig.parse(JSON.writeValueAsBytes(qwen), SOURCE).llama().slidingWindows());
        assertEquals(32, HfConfig.parse(JSON.writeValueAsBytes(qwen), SOURCE).llama().numKeyValueHeads());
        // rope_scaling wins over rope_parameters, and a top-level original_max_position_embeddings over the one inside
        ObjectNode both = valid("llama").put("original_max_position_embeddings", 4096);
        both.putObject("rope_scaling").put("rope_type", "llama3").put("factor", 8.0).put("low_freq_factor", 1.0).put("high_freq_factor", 4.0)
                .put("original_max_position_embeddings", 8192);
        assertEquals(new TransformerConfig.Rope(10000, "llama3", 8, 1, 4, 4096), HfConfig.parse(JSON.writeValueAsBytes(both), SOURCE).llama().rope());
        TransformerConfig qwen2 = HfConfig.parse(JSON.writeValueAsBytes(valid("qwen2")), SOURCE);
        assertTrue(qwen2.llama().qkvBias() && !qwen2.llama().outputBias(), "Qwen2: q/k/v biases, no o_proj bias");
    }

    @Test
    void writeThenParseIsTheSameConfig() throws IOException {
        for (String type : new String[] {"bert", "gpt2", "llama", "mistral", "qwen2"}) {
            TransformerConfig c = HfConfig.parse(JSON.writeValueAsBytes(valid(type)), SOURCE);
            assertEquals(c, HfConfig.parse(HfConfig.write(c), SOURCE));
        }
    }
}
