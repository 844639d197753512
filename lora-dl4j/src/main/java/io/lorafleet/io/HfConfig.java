package io.lorafleet.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lorafleet.model.Architecture;
import io.lorafleet.model.TransformerConfig;
import io.lorafleet.nn.Gelu;

import java.io.IOException;

/** Hugging Face config.json ↔ {@link TransformerConfig}, for the bert and gpt2 model types. */
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
        if (architecture == null) throw new IOException(source + ": model_type '" + type + "' is not supported (bert, gpt2)");
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
            };
        } catch (IllegalArgumentException e) {
            throw new IOException(source + ": " + e.getMessage(), e);
        }
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
        boolean gpt2 = c.architecture() == Architecture.GPT2;
        o.putArray("architectures").add(gpt2 ? "GPT2ForSequenceClassification" : "BertForSequenceClassification");
        ObjectNode id2label = o.putObject("id2label"), label2id = o.putObject("label2id");
        for (int i = 0; i < labels.size(); i++) {
            id2label.put(Integer.toString(i), labels.get(i));
            label2id.put(labels.get(i), i);
        }
        o.put("problem_type", "single_label_classification");
        if (gpt2) o.put("pad_token_id", c.vocabSize() - 1);
        return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(o);
    }

    private static ObjectNode node(TransformerConfig c) {
        ObjectNode o = JSON.createObjectNode();
        if (c.architecture() == Architecture.BERT) {
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
