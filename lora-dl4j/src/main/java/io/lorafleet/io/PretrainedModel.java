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
    /**
     * An int8 model's weights (int8 projections and their {@code .weight_scale}s): a name transformers does not look
     * for, since it would load the int8 values as if they were the weights (it reads I8 as numbers and ignores the
     * scales) and compute garbage; it refuses a folder without model.safetensors instead.
     */
    public static final String INT8_WEIGHTS = "model.int8.safetensors";
    private static final ObjectMapper JSON = new ObjectMapper();

    public static PretrainedModel load(ModelFiles files) throws IOException {
        if (!files.exists(CONFIG)) throw new IOException(files.describe(CONFIG) + ": missing");
        TransformerConfig config = HfConfig.parse(files.readAll(CONFIG), files.describe(CONFIG));
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        Map<String, String> from = new LinkedHashMap<>(); // canonical name → the file name it was read under
        java.util.List<String> shards = shards(files);
        Map<String, String> index = files.exists(INDEX) ? weightMap(files) : Map.of();
        Map<String, String> unread = new LinkedHashMap<>(index);
        for (String shard : shards) {
            try (SafetensorsReader reader = SafetensorsReader.open(files.open(shard), files.describe(shard))) {
                for (String name : reader.tensors().keySet()) {
                    // the index decides where each tensor lives, as Hugging Face's loader does: a stray copy is an error, not a choice
                    if (!index.isEmpty() && !shard.equals(index.get(name))) {
                        throw new IOException(files.describe(shard) + ": holds " + name + ", which " + INDEX + " places "
                                + (index.containsKey(name) ? "in " + index.get(name) : "nowhere"));
                    }
                    String canonical = stripTaskPrefix(name, config);
                    if (canonical == null) continue;
                    String earlier = from.putIfAbsent(canonical, shard + ":" + name);
                    if (earlier != null) throw new IOException(files.describe(shard) + ": " + name + " is the same weight as " + earlier);
                    tensors.put(canonical, reader.read(name));
                }
                unread.keySet().removeAll(reader.tensors().keySet());
            }
        }
        if (!unread.isEmpty()) {
            String missing = unread.keySet().iterator().next();
            throw new IOException(files.describe(INDEX) + ": lists " + unread.size() + " tensor(s) its shards do not hold, e.g. " + missing + " in "
                    + unread.get(missing));
        }
        ModelWeights weights = new ModelWeights(tensors, files.describe(shards.get(0)));
        weights.checkComplete(config);
        return new PretrainedModel(config, weights);
    }

    /** The file this model's weights are written to: {@link #INT8_WEIGHTS} when it has int8 projections. */
    public String weightsFile() {
        return weights.asMap().values().stream().anyMatch(t -> t.dataType() == org.nd4j.linalg.api.buffer.DataType.BYTE) ? INT8_WEIGHTS : WEIGHTS;
    }

    /**
     * SHA-256 over config.json and the weight files in load order: what the model is, wherever it lives.
     * Jobs pin it on the driver and executors check that what they loaded is the same.
     */
    public static String contentHash(ModelFiles files) throws IOException {
        java.security.MessageDigest digest;
        try {
            digest = java.security.MessageDigest.getInstance("SHA-256");
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e); // every JVM has SHA-256
        }
        digest.update(files.readAll(CONFIG));
        java.nio.ByteBuffer buffer = java.nio.ByteBuffer.allocate(1 << 20);
        for (String shard : shards(files)) {
            try (var channel = files.open(shard)) {
                while (channel.read(buffer.clear()) > 0) digest.update(buffer.flip());
            }
        }
        return java.util.HexFormat.of().formatHex(digest.digest());
    }

    /** The weight files: the index's shards in name order, or the single model.safetensors. */
    private static java.util.List<String> shards(ModelFiles files) throws IOException {
        if (files.exists(INDEX)) {
            java.util.List<String> names = java.util.List.copyOf(new TreeSet<>(weightMap(files).values()));
            if (names.isEmpty()) throw new IOException(files.describe(INDEX) + ": weight_map lists no shard");
            return names;
        }
        if (files.exists(WEIGHTS)) return java.util.List.of(WEIGHTS);
        if (files.exists(INT8_WEIGHTS)) return java.util.List.of(INT8_WEIGHTS);
        throw new IOException(files.describe(WEIGHTS) + ": missing (and no " + INDEX + " or " + INT8_WEIGHTS + ")");
    }

    /** The index's tensor → shard file map (a modifiable copy). */
    private static Map<String, String> weightMap(ModelFiles files) throws IOException {
        JsonNode map = JSON.readTree(files.readAll(INDEX)).get("weight_map");
        if (map == null || !map.isObject()) throw new IOException(files.describe(INDEX) + ": no weight_map");
        Map<String, String> shardOf = new LinkedHashMap<>();
        for (var e : (Iterable<Map.Entry<String, JsonNode>>) map::fields) {
            String shard = e.getValue().asText();
            if (shard.contains("/") || shard.contains("..")) throw new IOException(files.describe(INDEX) + ": shard name " + shard + " leaves the folder");
            shardOf.put(e.getKey(), shard);
        }
        return shardOf;
    }

    /** HF task models prefix the body's tensors ("bert.", "transformer."); heads and buffers are not the body's. */
    private static String stripTaskPrefix(String name, TransformerConfig config) {
        String prefix = config.architecture().bodyPrefix();
        String n = name.startsWith(prefix) ? name.substring(prefix.length()) : name;
        Map<String, long[]> expected = ModelWeights.expectedShapes(config);
        boolean scale = n.endsWith(ModelWeights.SCALE_SUFFIX) && expected.containsKey(n.substring(0, n.length() - "_scale".length()));
        return expected.containsKey(n) || ModelWeights.optionalShapes(config).containsKey(n) || scale ? n : null;
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
        try (var channel = java.nio.channels.FileChannel.open(tmp.resolve(weightsFile()), java.nio.file.StandardOpenOption.CREATE_NEW,
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
