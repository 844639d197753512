package io.lorafleet.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lorafleet.model.Architecture;
import io.lorafleet.model.TransformerConfig;
import io.lorafleet.nn.Gelu;

import java.io.IOException;

/** Hugging Face config.json ↔ {@link TransformerConfig}, for the bert, gpt2, llama, mistral and qwen2 model types. */
public final class HfConfig {
    private static final ObjectMapper JSON = new ObjectMapper();

    private HfConfig() { }

    /** Parses config.json; every error names {@code source} and the key. */
    public static TransformerConfig parse(byte[] json, String source) throws IOException {
        JsonNode c;
        try {
            c = JSON.readTree(json);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IOException(source + ": not valid JSON: " + e.getOriginalMessage());
        }
        if (c == null || !c.isObject()) throw new IOException(source + ": not a JSON object");
        String type = text(c, "model_type", source);
        Architecture architecture = Architecture.ofModelType(type);
        if (architecture == null) throw new IOException(source + ": model_type '" + type + "' is not supported (bert, gpt2, llama, mistral, qwen2)");
        try {
            return switch (architecture) {
                case BERT -> new TransformerConfig(Architecture.BERT, integer(c, "vocab_size", source), integer(c, "hidden_size", source),
                        integer(c, "num_hidden_layers", source), integer(c, "num_attention_heads", source), integer(c, "intermediate_size", source),
                        integer(c, "max_position_embeddings", source), c.has("type_vocab_size") ? integer(c, "type_vocab_size", source) : 2,
                        c.has("layer_norm_eps") ? number(c, "layer_norm_eps", source) : 1e-12,
                        activation(c.has("hidden_act") ? text(c, "hidden_act", source) : "gelu", "hidden_act", source));
                case GPT2 -> {
                    int d = integer(c, "n_embd", source);
                    JsonNode inner = c.get("n_inner");
                    yield new TransformerConfig(Architecture.GPT2, integer(c, "vocab_size", source), d, integer(c, "n_layer", source),
                            integer(c, "n_head", source), inner == null || inner.isNull() ? 4 * d : integer(c, "n_inner", source),
                            integer(c, "n_positions", source), 0,
                            c.has("layer_norm_epsilon") ? number(c, "layer_norm_epsilon", source) : 1e-5,
                            activation(c.has("activation_function") ? text(c, "activation_function", source) : "gelu_new", "activation_function", source));
                }
                case LLAMA, MISTRAL, QWEN2 -> llama(architecture, c, source);
            };
        } catch (IllegalArgumentException e) {
            throw new IOException(source + ": " + e.getMessage(), e);
        }
    }

    /**
     * A Llama-family config as transformers 5 reads it, with its defaults for absent keys: rotary settings from the
     * older rope_scaling (which wins) or rope_parameters, rope_theta inside them or beside them; biases by model type
     * (Qwen2's q/k/v biases, Llama's attention_bias and mlp_bias); sliding windows from Mistral's sliding_window, or
     * Qwen2's layer_types (else use_sliding_window from layer max_window_layers on), 4096 when the key is absent and
     * none when it is null; num_key_value_heads absent: the head count for Llama, 8 for Mistral, 32 for Qwen2.
     */
    private static TransformerConfig llama(Architecture architecture, JsonNode c, String source) throws IOException {
        int hidden = integer(c, "hidden_size", source), heads = integer(c, "num_attention_heads", source), layers = integer(c, "num_hidden_layers", source);
        String act = c.has("hidden_act") ? text(c, "hidden_act", source) : "silu";
        if (!act.equals("silu")) throw new IOException(source + ": hidden_act '" + act + "' is not supported (silu)");
        if (present(c, "partial_rotary_factor") && number(c, "partial_rotary_factor", source) != 1.0) {
            throw new IOException(source + ": partial_rotary_factor other than 1 is not supported");
        }
        boolean attentionBias = c.has("attention_bias") && bool(c, "attention_bias", source);
        boolean mlpBias = c.has("mlp_bias") && bool(c, "mlp_bias", source);
        boolean qwen2 = architecture == Architecture.QWEN2, llama = architecture == Architecture.LLAMA;
        TransformerConfig.Llama settings = new TransformerConfig.Llama(
                !c.has("num_key_value_heads") ? switch (architecture) {
                    case MISTRAL -> 8;
                    case QWEN2 -> 32;
                    default -> heads;
                } : present(c, "num_key_value_heads") ? integer(c, "num_key_value_heads", source) : heads,
                present(c, "head_dim") ? integer(c, "head_dim", source) : hidden / heads,
                rope(c, source), c.has("tie_word_embeddings") && bool(c, "tie_word_embeddings", source),
                qwen2 || llama && attentionBias, llama && attentionBias, llama && mlpBias, slidingWindows(architecture, c, layers, source));
        return TransformerConfig.llama(architecture, integer(c, "vocab_size", source), hidden, layers, heads, integer(c, "intermediate_size", source),
                integer(c, "max_position_embeddings", source), present(c, "rms_norm_eps") ? number(c, "rms_norm_eps", source) : 1e-6, settings);
    }

    private static TransformerConfig.Rope rope(JsonNode c, String source) throws IOException {
        boolean legacy = present(c, "rope_scaling") && !c.get("rope_scaling").isEmpty(); // transformers: rope_scaling or rope_parameters
        String key = legacy ? "rope_scaling" : "rope_parameters";
        JsonNode p = present(c, key) ? c.get(key) : null;
        if (p != null && !p.isObject()) throw new IOException(source + ": " + key + " must be an object, is " + p);
        double theta = p != null && present(p, "rope_theta") ? number(p, "rope_theta", key + ".rope_theta", source)
                : present(c, "rope_theta") ? number(c, "rope_theta", source) : 10000.0;
        if (p == null) return TransformerConfig.Rope.plain(theta);
        String type = present(p, "rope_type") ? p.get("rope_type").asText() : present(p, "type") ? p.get("type").asText() : "default";
        if (present(p, "partial_rotary_factor") && number(p, "partial_rotary_factor", key + ".partial_rotary_factor", source) != 1.0) {
            throw new IOException(source + ": partial_rotary_factor other than 1 is not supported");
        }
        try {
            return switch (type) {
                case "default" -> TransformerConfig.Rope.plain(theta);
                case "linear" -> new TransformerConfig.Rope(theta, type, number(p, "factor", key + ".factor", source), 0, 0, 0);
                case "llama3" -> new TransformerConfig.Rope(theta, type, number(p, "factor", key + ".factor", source),
                        number(p, "low_freq_factor", key + ".low_freq_factor", source), number(p, "high_freq_factor", key + ".high_freq_factor", source),
                        present(c, "original_max_position_embeddings") ? integer(c, "original_max_position_embeddings", source) // beside wins, as in transformers
                                : present(p, "original_max_position_embeddings") ? (int) number(p, "original_max_position_embeddings", key + ".original_max_position_embeddings", source)
                                : integer(c, "max_position_embeddings", source));
                default -> throw new IOException(source + ": " + key + " type '" + type + "' is not supported (default, linear, llama3)");
            };
        } catch (IllegalArgumentException e) {
            throw new IOException(source + ": " + key + ": " + e.getMessage(), e);
        }
    }

    private static java.util.List<Integer> slidingWindows(Architecture architecture, JsonNode c, int layers, String source) throws IOException {
        Integer[] windows = new Integer[layers];
        java.util.Arrays.fill(windows, 0);
        int window = !c.has("sliding_window") ? 4096 : present(c, "sliding_window") ? integer(c, "sliding_window", source) : 0;
        if (architecture == Architecture.MISTRAL) {
            java.util.Arrays.fill(windows, window);
        } else if (architecture == Architecture.QWEN2) {
            JsonNode types = c.get("layer_types");
            boolean use = c.has("use_sliding_window") && bool(c, "use_sliding_window", source);
            if (types != null && !types.isNull()) {
                if (!types.isArray() || types.size() != layers) throw new IOException(source + ": layer_types must list one type per layer (" + layers + ")");
                for (int i = 0; i < layers; i++) {
                    String t = types.get(i).asText();
                    if (!t.equals("full_attention") && !t.equals("sliding_attention")) {
                        throw new IOException(source + ": layer_types[" + i + "] '" + t + "' is not supported (full_attention, sliding_attention)");
                    }
                    windows[i] = t.equals("sliding_attention") && use ? window : 0;
                }
            } else if (use && window > 0) {
                int from = present(c, "max_window_layers") ? integer(c, "max_window_layers", source) : 28;
                for (int i = from; i < layers; i++) windows[i] = window;
            }
        }
        return java.util.List.of(windows);
    }

    /** config.json for this shape, with the keys Hugging Face's config classes read. */
    public static byte[] write(TransformerConfig c) throws IOException {
        return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(node(c));
    }

    /**
     * config.json of the architecture's Hugging Face sequence classifier (BertForSequenceClassification,
     * GPT2ForSequenceClassification) with its labels, which is what AutoModelForSequenceClassification builds from it.
     * GPT-2 finds each sequence's last token by the padding id, which it has none of: the last vocabulary id
     * (GPT-2's end of text) stands in.
     */
    public static byte[] writeClassifier(TransformerConfig c, java.util.List<String> labels) throws IOException {
        ObjectNode o = node(c);
        o.putArray("architectures").add(c.architecture().classifierClass());
        ObjectNode id2label = o.putObject("id2label"), label2id = o.putObject("label2id");
        for (int i = 0; i < labels.size(); i++) {
            id2label.put(Integer.toString(i), labels.get(i));
            label2id.put(labels.get(i), i);
        }
        o.put("problem_type", "single_label_classification");
        if (c.causal()) o.put("pad_token_id", c.vocabSize() - 1);
        return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(o);
    }

    private static ObjectNode node(TransformerConfig c) {
        ObjectNode o = JSON.createObjectNode();
        if (c.llama() != null) {
            llamaNode(c, o);
        } else if (c.architecture() == Architecture.BERT) {
            o.putArray("architectures").add("BertModel");
            o.put("model_type", c.architecture().modelType());
            o.put("vocab_size", c.vocabSize());
            o.put("hidden_size", c.hiddenSize());
            o.put("num_hidden_layers", c.numLayers());
            o.put("num_attention_heads", c.numHeads());
            o.put("intermediate_size", c.intermediateSize());
            o.put("max_position_embeddings", c.maxPositions());
            o.put("type_vocab_size", c.typeVocabSize());
            o.put("layer_norm_eps", c.layerNormEps());
            o.put("hidden_act", activationName(c.activation()));
            o.put("pad_token_id", 0);
        } else {
            o.putArray("architectures").add("GPT2LMHeadModel");
            o.put("model_type", c.architecture().modelType());
            o.put("vocab_size", c.vocabSize());
            o.put("n_embd", c.hiddenSize());
            o.put("n_layer", c.numLayers());
            o.put("n_head", c.numHeads());
            o.put("n_inner", c.intermediateSize());
            o.put("n_positions", c.maxPositions());
            o.put("layer_norm_epsilon", c.layerNormEps());
            o.put("activation_function", activationName(c.activation()));
        }
        o.put("torch_dtype", "float32");
        return o;
    }

    private static void llamaNode(TransformerConfig c, ObjectNode o) {
        TransformerConfig.Llama l = c.llama();
        o.putArray("architectures").add(c.architecture().causalLmClass());
        o.put("model_type", c.architecture().modelType());
        o.put("vocab_size", c.vocabSize());
        o.put("hidden_size", c.hiddenSize());
        o.put("intermediate_size", c.intermediateSize());
        o.put("num_hidden_layers", c.numLayers());
        o.put("num_attention_heads", c.numHeads());
        o.put("num_key_value_heads", l.numKeyValueHeads());
        o.put("head_dim", l.headDim());
        o.put("hidden_act", "silu");
        o.put("max_position_embeddings", c.maxPositions());
        o.put("rms_norm_eps", c.layerNormEps());
        o.put("tie_word_embeddings", l.tiedEmbeddings());
        ObjectNode rope = o.putObject("rope_parameters");
        rope.put("rope_type", l.rope().type());
        rope.put("rope_theta", l.rope().theta());
        if (!l.rope().type().equals("default")) rope.put("factor", l.rope().factor());
        if (l.rope().type().equals("llama3")) {
            rope.put("low_freq_factor", l.rope().lowFreqFactor());
            rope.put("high_freq_factor", l.rope().highFreqFactor());
            rope.put("original_max_position_embeddings", l.rope().originalMaxPositions());
        }
        int window = l.slidingWindows().stream().mapToInt(Integer::intValue).max().orElse(0);
        switch (c.architecture()) {
            case LLAMA -> {
                o.put("attention_bias", l.qkvBias());
                o.put("mlp_bias", l.mlpBias());
            }
            case MISTRAL -> {
                if (window > 0) o.put("sliding_window", window);
                else o.putNull("sliding_window");
            }
            case QWEN2 -> {
                o.put("use_sliding_window", window > 0);
                if (window > 0) o.put("sliding_window", window);
                else o.putNull("sliding_window");
                ArrayNode types = o.putArray("layer_types");
                l.slidingWindows().forEach(w -> types.add(w > 0 ? "sliding_attention" : "full_attention"));
            }
            default -> throw new IllegalStateException(c.architecture() + " is not of the Llama family");
        }
    }

    private static String activationName(Gelu.Form form) {
        return form == Gelu.Form.ERF ? "gelu" : "gelu_new";
    }

    private static Gelu.Form activation(String name, String key, String source) throws IOException {
        return switch (name) {
            case "gelu" -> Gelu.Form.ERF;
            case "gelu_new", "gelu_pytorch_tanh" -> Gelu.Form.TANH;
            default -> throw new IOException(source + ": " + key + " '" + name + "' is not supported (gelu, gelu_new)");
        };
    }

    private static JsonNode require(JsonNode c, String key, String source) throws IOException {
        JsonNode v = c.get(key);
        if (v == null || v.isNull()) throw new IOException(source + ": missing key " + key);
        return v;
    }

    private static String text(JsonNode c, String key, String source) throws IOException {
        JsonNode v = require(c, key, source);
        if (!v.isTextual()) throw new IOException(source + ": " + key + " must be a string, is " + v);
        return v.asText();
    }

    private static boolean present(JsonNode c, String key) {
        return c.has(key) && !c.get(key).isNull();
    }

    private static boolean bool(JsonNode c, String key, String source) throws IOException {
        JsonNode v = require(c, key, source);
        if (!v.isBoolean()) throw new IOException(source + ": " + key + " must be true or false, is " + v);
        return v.asBoolean();
    }

    private static double number(JsonNode c, String key, String path, String source) throws IOException {
        JsonNode v = c.get(key);
        if (v == null || !v.isNumber()) throw new IOException(source + ": " + path + " must be a number, is " + v);
        return v.asDouble();
    }

    private static int integer(JsonNode c, String key, String source) throws IOException {
        JsonNode v = require(c, key, source);
        if (!v.isIntegralNumber()) throw new IOException(source + ": " + key + " must be an integer, is " + v);
        return v.asInt();
    }

    private static double number(JsonNode c, String key, String source) throws IOException {
        JsonNode v = require(c, key, source);
        if (!v.isNumber()) throw new IOException(source + ": " + key + " must be a number, is " + v);
        return v.asDouble();
    }
}
