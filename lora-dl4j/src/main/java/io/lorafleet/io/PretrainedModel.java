package io.lorafleet.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.lorafleet.model.ModelWeights;
import io.lorafleet.model.TransformerConfig;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeSet;

/**
 * A Hugging Face model folder: config.json, model.safetensors (or shards listed in
 * model.safetensors.index.json) and tokenizer.json. Loading checks every tensor's name and shape against
 * the config; names saved under a task model's prefix ("bert.", "transformer.") are accepted too.
 */
public record PretrainedModel(TransformerConfig config, ModelWeights weights) {
    public static final String CONFIG = "config.json", WEIGHTS = "model.safetensors", INDEX = "model.safetensors.index.json",
            TOKENIZER = "tokenizer.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    public static PretrainedModel load(ModelFiles files) throws IOException {
        if (!files.exists(CONFIG)) throw new IOException(files.describe(CONFIG) + ": missing");
        TransformerConfig config = HfConfig.parse(files.readAll(CONFIG), files.describe(CONFIG));
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        java.util.List<String> shards = shards(files);
        for (String shard : shards) {
            try (SafetensorsReader reader = SafetensorsReader.open(files.open(shard), files.describe(shard))) {
                for (String name : reader.tensors().keySet()) {
                    String canonical = stripTaskPrefix(name, config);
                    if (canonical == null) continue;
                    tensors.put(canonical, reader.read(name));
                }
            }
        }
        ModelWeights weights = new ModelWeights(tensors, files.describe(shards.get(0)));
        weights.checkComplete(config);
        return new PretrainedModel(config, weights);
    }

    /**
     * SHA-256 over config.json and the weight files in load order: what the model is, wherever it lives.
     * Jobs pin it on the driver and executors check that what they loaded is the same.
     */
    public static String contentHash(ModelFiles files) throws IOException {
        java.security.MessageDigest digest = Sha256.digest();
        digest.update(files.readAll(CONFIG));
        for (String shard : shards(files)) {
            try (var channel = files.open(shard)) {
                Sha256.update(digest, channel);
            }
        }
        return Sha256.hex(digest);
    }

    /** The weight files: the index's shards in name order, or the single model.safetensors. */
    private static java.util.List<String> shards(ModelFiles files) throws IOException {
        if (files.exists(INDEX)) {
            JsonNode map = JSON.readTree(files.readAll(INDEX)).get("weight_map");
            if (map == null || !map.isObject()) throw new IOException(files.describe(INDEX) + ": no weight_map");
            TreeSet<String> names = new TreeSet<>();
            map.fields().forEachRemaining(e -> names.add(e.getValue().asText()));
            for (String n : names) {
                if (n.contains("/") || n.contains("..")) throw new IOException(files.describe(INDEX) + ": shard name " + n + " leaves the folder");
            }
            if (names.isEmpty()) throw new IOException(files.describe(INDEX) + ": weight_map lists no shard");
            return java.util.List.copyOf(names);
        }
        if (!files.exists(WEIGHTS)) throw new IOException(files.describe(WEIGHTS) + ": missing (and no " + INDEX + ")");
        return java.util.List.of(WEIGHTS);
    }

    /** HF task models prefix the body's tensors ("bert.", "transformer."); heads and buffers are not the body's. */
    private static String stripTaskPrefix(String name, TransformerConfig config) {
        String prefix = config.modelType().equals("bert") ? "bert." : "transformer.";
        String n = name.startsWith(prefix) ? name.substring(prefix.length()) : name;
        return ModelWeights.expectedShapes(config).containsKey(n) ? n : null;
    }

    /**
     * Writes a model folder: config.json, model.safetensors (F32, HF names and layout) and the tokenizer,
     * into a temporary sibling that is renamed into place, so a folder is complete or absent.
     */
    public void writeFolder(Path out, byte[] tokenizerJson, boolean overwrite) throws IOException {
        if (Files.exists(out) && !overwrite) throw new IOException(out + ": already exists (pass --overwrite to replace it)");
        Path parent = out.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        Path tmp = Files.createTempDirectory(parent, "." + out.getFileName() + ".tmp-");
        if (tmp.getFileSystem().supportedFileAttributeViews().contains("posix")) {
            Files.setPosixFilePermissions(tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        Files.write(tmp.resolve(CONFIG), HfConfig.write(config));
        try (var channel = java.nio.channels.FileChannel.open(tmp.resolve(WEIGHTS), java.nio.file.StandardOpenOption.CREATE_NEW,
                java.nio.file.StandardOpenOption.WRITE)) {
            SafetensorsWriter.write(channel, weights.asMap(), Map.of("format", "pt"));
        }
        Files.write(tmp.resolve(TOKENIZER), tokenizerJson);
        if (Files.exists(out)) {
            Path old = Files.createTempDirectory(parent, "." + out.getFileName() + ".old-");
            Files.move(out, old.resolve("x"), StandardCopyOption.ATOMIC_MOVE);
            Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE);
            deleteTree(old);
        } else {
            Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE);
        }
    }

    private static void deleteTree(Path p) throws IOException {
        try (var walk = Files.walk(p)) {
            for (Path x : walk.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(x);
        }
    }
}
