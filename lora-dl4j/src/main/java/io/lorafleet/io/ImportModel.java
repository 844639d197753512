package io.lorafleet.io;

import io.lorafleet.model.ModelWeights;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;

/**
 * A BERT-family ONNX export as a model we load: from the bare .onnx bytes, or from a Maven model jar holding
 * one {@code *.onnx} and one {@code *tokenizer.json} entry. Imported weights must be finite and of a sane size:
 * a damaged file whose protobuf still parses (flipped bytes) gives weights like 1e30, which would train nonsense.
 */
public final class ImportModel {
    /** Larger than any weight of a trained transformer (all-MiniLM-L6-v2: 7.9), far below what flipped exponent bytes give. */
    static final double MAX_SANE_WEIGHT = 1e4;

    /** A jar's ONNX graph and tokenizer.json (null when it has none). */
    public record JarEntries(byte[] onnx, String onnxName, byte[] tokenizerJson) { }

    private ImportModel() { }

    public static JarEntries readJar(InputStream jar, String source) throws IOException {
        byte[] onnx = null, tokenizer = null;
        String onnxName = null;
        try (ZipInputStream zip = new ZipInputStream(jar)) {
            for (ZipEntry e; (e = zip.getNextEntry()) != null; ) {
                if (e.getName().endsWith(".onnx")) {
                    if (onnx != null) throw new IOException(source + ": holds more than one *.onnx (" + onnxName + ", " + e.getName() + ")");
                    onnx = zip.readAllBytes();
                    onnxName = e.getName();
                } else if (e.getName().endsWith("tokenizer.json")) {
                    if (tokenizer != null) throw new IOException(source + ": holds more than one *tokenizer.json");
                    tokenizer = zip.readAllBytes();
                }
            }
        }
        if (onnx == null) throw new IOException(source + ": holds no *.onnx entry");
        return new JarEntries(onnx, onnxName, tokenizer);
    }

    /** The model an ONNX graph holds; refuses weights that are not finite or implausibly large, naming the tensor. */
    public static PretrainedModel importOnnx(byte[] onnx, String source) throws IOException {
        OnnxBertImporter.Imported imported = OnnxBertImporter.importGraph(OnnxGraph.parse(ByteBuffer.wrap(onnx), source), source);
        requireSane(imported.weights(), source);
        return new PretrainedModel(imported.config(), imported.weights());
    }

    static void requireSane(ModelWeights weights, String source) throws IOException {
        for (Map.Entry<String, INDArray> e : weights.asMap().entrySet()) {
            double largest = 0;
            for (float w : e.getValue().castTo(org.nd4j.linalg.api.buffer.DataType.FLOAT).dup('c').data().asFloat()) {
                if (!Float.isFinite(w)) {
                    largest = Double.NaN;
                    break;
                }
                largest = Math.max(largest, Math.abs(w));
            }
            if (!Double.isFinite(largest) || largest > MAX_SANE_WEIGHT) {
                throw new IOException(source + ": " + e.getKey() + " holds " + (Double.isFinite(largest) ? "a weight of magnitude " + largest
                        : "non-finite values") + " (a trained model's stay below " + MAX_SANE_WEIGHT + "); the file is damaged");
            }
        }
    }
}
