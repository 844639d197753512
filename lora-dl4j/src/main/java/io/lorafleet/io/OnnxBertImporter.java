package io.lorafleet.io;

import io.lorafleet.model.ModelWeights;
import io.lorafleet.model.Architecture;
import io.lorafleet.model.TransformerConfig;
import io.lorafleet.nn.Gelu;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns a BERT-family ONNX export (as in the all-MiniLM-L6-v2 Maven jar) into Hugging Face tensors and
 * config. Embeddings, LayerNorms and biases keep their HF names in such exports; the six weight matrices of
 * each layer are anonymous initializers (onnx::MatMul_N) stored [in, out]. Each is named after the bias
 * that the Add consuming its MatMul's output adds, and transposed to HF's [out, in].
 *
 * <p>A dynamically quantized export (onnxruntime's quantize_dynamic, as in the all-MiniLM-L6-v2-q jar) stores each
 * projection as an int8 matrix with a float scale per output column and zero points, multiplied by MatMulInteger and
 * rescaled before its bias Add: imported as the int8 weight and its scale ({@link ModelWeights#SCALE_SUFFIX}; only
 * symmetric weights, zero point 0, are read). Its embedding tables (uint8, one scale and zero point each) are widened to
 * float on import.
 */
public final class OnnxBertImporter {
    /** The imported model: its shape and its tensors under HF names, in HF layout. */
    public record Imported(TransformerConfig config, ModelWeights weights) { }

    private OnnxBertImporter() { }

    public static Imported importGraph(OnnxGraph graph, String source) throws IOException {
        Map<String, INDArray> init = graph.initializers();
        Map<String, OnnxGraph.Node> producer = new HashMap<>();
        Map<String, List<OnnxGraph.Node>> consumers = new HashMap<>();
        for (OnnxGraph.Node n : graph.nodes()) {
            n.outputs().forEach(o -> producer.put(o, n));
            n.inputs().forEach(i -> consumers.computeIfAbsent(i, k -> new ArrayList<>()).add(n));
        }
        Map<String, INDArray> weights = new LinkedHashMap<>();
        for (Map.Entry<String, INDArray> e : init.entrySet()) {
            String name = e.getKey();
            if (name.startsWith("onnx::") || name.endsWith(SCALE) || name.endsWith(ZERO_POINT)) continue;
            if (name.endsWith(QUANTIZED)) {
                String stem = name.substring(0, name.length() - QUANTIZED.length());
                INDArray zero = need(init, stem + ZERO_POINT, source).castTo(DataType.FLOAT), scale = need(init, stem + SCALE, source);
                if (zero.length() != 1 || scale.length() != 1) {
                    throw new IOException(source + ": " + stem + " is quantized with " + scale.length() + " scales; import reads embedding tables with one");
                }
                weights.put(stem, e.getValue().castTo(DataType.FLOAT).subi(zero.getFloat(0)).muli(scale.getFloat(0)));
            } else {
                weights.put(name, e.getValue());
            }
        }
        Map<String, String> keyProjectionOutput = new HashMap<>(); // layer's key bias → its Add output
        for (OnnxGraph.Node n : graph.nodes()) {
            boolean quantized = n.opType().equals("MatMulInteger");
            if (!(quantized || n.opType().equals("MatMul")) || n.inputs().size() < 2 || !init.containsKey(n.inputs().get(1))) continue;
            String anonymous = n.inputs().get(1);
            OnnxGraph.Node add = biasAdd(n, consumers, init)
                    .orElseThrow(() -> new IOException(source + ": cannot tell which layer " + anonymous + " belongs to (no bias Add after its MatMul)"));
            String bias = add.inputs().stream().filter(i -> i.endsWith(".bias") && init.containsKey(i)).findFirst().orElseThrow();
            String module = bias.substring(0, bias.length() - ".bias".length());
            if (weights.containsKey(module + ".weight")) throw new IOException(source + ": two MatMul weights claim " + module + ".weight");
            INDArray weight = init.get(anonymous).transpose().dup('c'); // [out, in]
            if (quantized) {
                String stem = anonymous.substring(0, anonymous.length() - QUANTIZED.length());
                INDArray zero = n.inputs().size() > 3 ? need(init, n.inputs().get(3), source) : null;
                if (zero != null && zero.castTo(DataType.FLOAT).amaxNumber().doubleValue() != 0) {
                    throw new IOException(source + ": " + module + "'s int8 weight has non-zero zero points (asymmetric quantization), which import does not read");
                }
                INDArray scale = need(init, stem + SCALE, source).castTo(DataType.FLOAT).reshape(-1);
                if (scale.length() == 1) scale = Nd4j.valueArrayOf(new long[] {weight.rows()}, scale.getFloat(0)); // per tensor (quantize_dynamic's default)
                if (scale.length() != weight.rows()) throw new IOException(source + ": " + module + " has " + scale.length() + " scales for " + weight.rows() + " outputs");
                if (!module.startsWith("encoder.")) { // a head's starting weights (the pooler) train in float: widen them
                    weight = weight.castTo(DataType.FLOAT).mulColumnVector(scale);
                } else {
                    weights.put(module + ModelWeights.SCALE_SUFFIX, scale);
                }
            }
            weights.put(module + ".weight", weight);
            if (bias.endsWith(".attention.self.key.bias")) keyProjectionOutput.put(bias, add.outputs().get(0));
        }
        TransformerConfig config = config(graph, weights, producer, consumers, keyProjectionOutput, source);
        ModelWeights model = new ModelWeights(weights, source);
        model.checkComplete(config);
        return new Imported(config, model);
    }

    private static final String QUANTIZED = "_quantized", SCALE = "_scale", ZERO_POINT = "_zero_point";

    /** The Add of a bias that a projection's product reaches, through a quantized product's Cast and rescaling Mul. */
    private static java.util.Optional<OnnxGraph.Node> biasAdd(OnnxGraph.Node product, Map<String, List<OnnxGraph.Node>> consumers, Map<String, INDArray> init) {
        List<OnnxGraph.Node> frontier = List.of(product);
        for (int depth = 0; depth < 3 && !frontier.isEmpty(); depth++) {
            List<OnnxGraph.Node> next = new ArrayList<>();
            for (OnnxGraph.Node node : frontier) {
                for (OnnxGraph.Node c : consumers.getOrDefault(node.outputs().get(0), List.of())) {
                    if (c.opType().equals("Add") && c.inputs().stream().anyMatch(i -> i.endsWith(".bias") && init.containsKey(i))) return java.util.Optional.of(c);
                    if (c.opType().equals("Cast") || c.opType().equals("Mul")) next.add(c);
                }
            }
            frontier = next;
        }
        return java.util.Optional.empty();
    }

    private static TransformerConfig config(OnnxGraph graph, Map<String, INDArray> w, Map<String, OnnxGraph.Node> producer,
                                            Map<String, List<OnnxGraph.Node>> consumers, Map<String, String> keyOutputs,
                                            String source) throws IOException {
        INDArray words = need(w, "embeddings.word_embeddings.weight", source);
        int vocab = (int) words.size(0), hidden = (int) words.size(1);
        int layers = 0;
        while (w.containsKey("encoder.layer." + layers + ".attention.self.query.bias")) layers++;
        if (layers == 0) throw new IOException(source + ": no encoder.layer.0 tensors; not a BERT-family export");
        int intermediate = (int) need(w, "encoder.layer.0.intermediate.dense.bias", source).length();
        int positions = (int) need(w, "embeddings.position_embeddings.weight", source).size(0);
        int types = w.containsKey("embeddings.token_type_embeddings.weight") ? (int) w.get("embeddings.token_type_embeddings.weight").size(0) : 0;
        boolean erf = graph.nodes().stream().anyMatch(n -> n.opType().equals("Erf"));
        boolean tanh = graph.nodes().stream().anyMatch(n -> n.opType().equals("Tanh"));
        if (!erf && !tanh) throw new IOException(source + ": found no GELU (Erf or Tanh) in the graph");
        return new TransformerConfig(Architecture.BERT, vocab, hidden, layers, heads(producer, consumers, keyOutputs, hidden, source), intermediate,
                positions, types, epsilon(graph, producer, source), erf ? Gelu.Form.ERF : Gelu.Form.TANH);
    }

    /** The attention reshape of layer 0's keys to [B, T, heads, head size] carries the head count as a constant. */
    private static int heads(Map<String, OnnxGraph.Node> producer, Map<String, List<OnnxGraph.Node>> consumers, Map<String, String> keyOutputs,
                             int hidden, String source) throws IOException {
        String keys = keyOutputs.get("encoder.layer.0.attention.self.key.bias");
        if (keys != null) {
            for (OnnxGraph.Node reshape : consumers.getOrDefault(keys, List.of())) {
                if (!reshape.opType().equals("Reshape")) continue;
                OnnxGraph.Node shape = producer.get(reshape.inputs().get(1));
                List<Long> constants = new ArrayList<>();
                if (shape != null && shape.opType().equals("Concat")) {
                    for (String in : shape.inputs()) {
                        OnnxGraph.Node c = producer.get(in);
                        if (c != null && c.constant() != null && c.constant().length() == 1) constants.add(c.constant().getLong(0));
                    }
                } else if (shape != null && shape.constant() != null && shape.constant().length() == 4) {
                    constants.add(shape.constant().getLong(2));
                    constants.add(shape.constant().getLong(3));
                }
                if (constants.size() == 2 && constants.get(0) * constants.get(1) == hidden) return constants.get(0).intValue();
            }
        }
        throw new IOException(source + ": cannot find the number of attention heads (no reshape of layer 0's keys to [.., .., heads, head size])");
    }

    /** LayerNorm exports compute sqrt(var + eps): eps is the constant added before the first Sqrt. */
    private static double epsilon(OnnxGraph graph, Map<String, OnnxGraph.Node> producer, String source) throws IOException {
        for (OnnxGraph.Node n : graph.nodes()) {
            if (!n.opType().equals("Sqrt")) continue;
            OnnxGraph.Node add = producer.get(n.inputs().get(0));
            if (add == null || !add.opType().equals("Add")) continue;
            for (String in : add.inputs()) {
                OnnxGraph.Node c = producer.get(in);
                // the export stores eps as float32; its shortest decimal form is the config's value (1e-12, not 9.99999996e-13)
                if (c != null && c.constant() != null && c.constant().length() == 1) return Double.parseDouble(Float.toString(c.constant().getFloat(0)));
            }
        }
        throw new IOException(source + ": cannot find the LayerNorm epsilon (no Add of a constant before a Sqrt)");
    }

    private static INDArray need(Map<String, INDArray> w, String name, String source) throws IOException {
        INDArray t = w.get(name);
        if (t == null) throw new IOException(source + ": missing initializer " + name);
        return t;
    }
}
