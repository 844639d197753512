package io.lorafleet.spark;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lorafleet.datasets.YamlConfig;
import io.lorafleet.model.SequenceClassifier;
import io.lorafleet.nn.LoraConfig;
import io.lorafleet.optim.OptimizerConfig;
import io.lorafleet.train.DivergenceGuard;

import java.io.IOException;
import java.io.Serializable;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What the train job does, from one YAML file:
 * <pre>
 * model: runs/models/all-minilm-l6-v2       # HF model folder, any Hadoop URI
 * shards: runs/demo/shards                  # the tokenize job's output (made with this model's tokenizer)
 * adapters:                                 # default: every adapter in the shards' manifest, with the settings below
 *   - imdb
 *   - id: brown                             # per-adapter overrides of lora, head, optimizer, epochs/rounds, seed
 *     lora: {r: 4, target_modules: [query]}
 *     optimizer: {learning_rate: 3e-3}
 *     epochs: 3
 * output: runs/demo/adapters
 * report: runs/demo                         # summary.json and report.html; default: output
 * waves: {max_adapters: 8, memory_mb: 1024} # adapters trained together per wave; step activations per task slot
 * checkpoints: runs/demo/checkpoints        # default: &lt;output&gt;/_checkpoints
 * checkpoint_every: 5                       # rounds; 0 = only the final state
 * eval_every: 5                             # rounds between evaluations for the report's curves; 0 = only at the end
 * lora: {r: 8, alpha: 16, dropout: 0.1, target_modules: [query, value]}   # LoraConfig (PEFT's names and defaults)
 * head: {pooling: mean}
 * optimizer: {kind: adamw, learning_rate: 1e-3, weight_decay: 0.01, warmup_steps: 10, decay: linear, max_grad_norm: 1.0,
 *            loraplus_lr_ratio: 1}  # OptimizerConfig; loraplus_lr_ratio 16: LoRA+ (B at 16× the rate)
 * batch_size: 16                            # per partition and local step
 * partitions: 2                             # data-parallel workers
 * local_steps: 4                            # steps between two averagings
 * epochs: 1.0                               # or rounds: N
 * seed: 42
 * optimizer_state: average                  # average (default) or reset: Adam moments restart each round and never move
 * max_nan_retries: 3                        # rejected rounds redone at half the learning rate before the adapter fails
 * divergence: {loss_factor: 10, update_factor: 100, after_rounds: 3}   # when a finite round is rejected too (DivergenceGuard)
 * </pre>
 */
public record TrainConfig(String model, String shards, List<AdapterEntry> adapters, String output, String report, String checkpoints,
                          Integer checkpointEvery, Integer evalEvery, LoraConfig lora, Head head, OptimizerConfig optimizer, Integer batchSize, Integer partitions, Integer localSteps,
                          Double epochs, Integer rounds, Long seed, OptimizerStateMode optimizerState, Integer maxNanRetries, String trainSplit,
                          String evalSplit, Waves waves, DivergenceGuard divergence) implements Serializable {
    public enum OptimizerStateMode { AVERAGE, RESET }

    public TrainConfig {
        require(model, "model");
        require(shards, "shards");
        require(output, "output");
        adapters = adapters == null ? List.of() : List.copyOf(adapters);
        Set<String> seen = new HashSet<>();
        for (AdapterEntry a : adapters) if (!seen.add(a.id())) throw new IllegalArgumentException("adapters: '" + a.id() + "' is listed twice");
        report = report == null ? output : report;
        checkpoints = checkpoints == null ? output.replaceAll("/+$", "") + "/_checkpoints" : checkpoints;
        checkpointEvery = positiveOrZero(checkpointEvery == null ? 0 : checkpointEvery, "checkpoint_every");
        evalEvery = positiveOrZero(evalEvery == null ? 0 : evalEvery, "eval_every");
        head = head == null ? new Head(null) : head;
        optimizer = optimizer == null ? OptimizerConfig.defaults() : optimizer;
        batchSize = positive(batchSize == null ? 16 : batchSize, "batch_size");
        partitions = positive(partitions == null ? 1 : partitions, "partitions");
        localSteps = positive(localSteps == null ? 1 : localSteps, "local_steps");
        if (epochs != null && rounds != null) throw new IllegalArgumentException("give epochs or rounds, not both");
        if (epochs == null && rounds == null) epochs = 1.0;
        if (epochs != null && !(epochs > 0)) throw new IllegalArgumentException("epochs: must be > 0, is " + epochs);
        if (rounds != null) positive(rounds, "rounds");
        seed = seed == null ? 42L : seed;
        optimizerState = optimizerState == null ? OptimizerStateMode.AVERAGE : optimizerState;
        maxNanRetries = positiveOrZero(maxNanRetries == null ? 3 : maxNanRetries, "max_nan_retries");
        trainSplit = trainSplit == null ? "train" : trainSplit;
        evalSplit = evalSplit == null ? "validation" : evalSplit;
        waves = waves == null ? new Waves(null, null) : waves;
        divergence = divergence == null ? new DivergenceGuard(null, null, null) : divergence;
    }

    /**
     * One adapter of the run: its id, and settings that replace the run's defaults for it alone. Written as a
     * plain id or as a mapping; override blocks are merged key by key into the defaults.
     */
    public record AdapterEntry(String id, JsonNode lora, JsonNode head,
                               JsonNode optimizer, Double epochs, Integer rounds, Long seed) implements Serializable {
        public AdapterEntry {
            if (id == null || id.isBlank()) throw new IllegalArgumentException("id: required");
            if (epochs != null && rounds != null) throw new IllegalArgumentException("give epochs or rounds, not both");
        }

        @JsonCreator(mode = JsonCreator.Mode.DELEGATING)
        public static AdapterEntry of(String id) {
            return new AdapterEntry(id, null, null, null, null, null, null);
        }
    }

    /**
     * How many adapters train together, and the activation memory a task's step may take. A wave's adapters
     * share rounds and one fused batch; when their batches together would take more than {@code memoryMb}, a
     * step runs them in groups that fit, and an adapter's batch over it alone in micro-batches (about 0.6 GB per
     * adapter at batch 16 × 128 tokens on MiniLM, 3.5 GB at 512; BulkTrainer.stepBytes).
     */
    public record Waves(Integer maxAdapters, Integer memoryMb) implements Serializable {
        public Waves {
            maxAdapters = positive(maxAdapters == null ? 8 : maxAdapters, "waves.max_adapters");
            memoryMb = positive(memoryMb == null ? 1024 : memoryMb, "waves.memory_mb");
        }

        /** {@code memory_mb} in bytes: the step budget BulkTrainer keeps to. */
        public long memoryBytes() { return (long) memoryMb << 20; }
    }

    /** The adapter ids of the run: as listed, or every adapter of the shards. */
    public List<String> adapterIds(Collection<String> inShards) {
        return adapters.isEmpty() ? List.copyOf(inShards) : adapters.stream().map(AdapterEntry::id).toList();
    }

    /**
     * The settings adapter {@code id} trains with: the run's, with its own overrides merged in. Fails, naming
     * the adapter and the key, when the merged settings are invalid; other adapters are not affected.
     */
    public TrainConfig forAdapter(String id) throws IOException {
        ObjectNode tree = YamlConfig.json().valueToTree(this);
        int index = -1;
        for (int i = 0; i < adapters.size(); i++) if (adapters.get(i).id().equals(id)) index = i;
        String source = index < 0 ? "adapter " + id : "adapters[" + index + "] (" + id + ")";
        if (index >= 0) {
            AdapterEntry a = adapters.get(index);
            merge(tree, "lora", a.lora());
            merge(tree, "head", a.head());
            merge(tree, "optimizer", a.optimizer());
            if (a.epochs() != null) {
                tree.put("epochs", a.epochs());
                tree.remove("rounds");
            }
            if (a.rounds() != null) {
                tree.put("rounds", a.rounds());
                tree.remove("epochs");
            }
            if (a.seed() != null) tree.put("seed", a.seed());
        }
        tree.putArray("adapters").add(id);
        TrainConfig c = YamlConfig.bind(tree, TrainConfig.class, source);
        if (c.lora() == null) throw new IOException(source + ": lora: required (at least lora.target_modules), at the top level or for the adapter");
        return c;
    }

    private static void merge(ObjectNode tree, String key, JsonNode override) {
        if (override == null || override.isNull()) return;
        JsonNode base = tree.get(key);
        if (base instanceof ObjectNode object && override.isObject()) {
            ObjectNode merged = object.deepCopy();
            override.fields().forEachRemaining(e -> merged.set(e.getKey(), e.getValue()));
            tree.set(key, merged);
        } else {
            tree.set(key, override);
        }
    }

    public record Head(SequenceClassifier.Pooling pooling) implements Serializable {
        public Head {
            pooling = pooling == null ? SequenceClassifier.Pooling.MEAN : pooling;
        }
    }

    /**
     * The same config with every path made absolute on the driver's file system: executors run in other
     * working directories (a relative "runs/demo/shards" means nothing there).
     */
    public TrainConfig qualified(org.apache.hadoop.conf.Configuration conf) throws IOException {
        return new TrainConfig(qualify(model, conf), qualify(shards, conf), adapters, qualify(output, conf), qualify(report, conf), qualify(checkpoints, conf),
                checkpointEvery, evalEvery, lora, head, optimizer, batchSize, partitions, localSteps, epochs, rounds, seed, optimizerState, maxNanRetries, trainSplit,
                evalSplit, waves, divergence);
    }

    /** Settings that only say where things are or how work is scheduled: they never change what an adapter is. */
    private static final Set<String> PLACES_AND_SCHEDULING = Set.of("model", "shards", "adapters", "output", "report", "checkpoints", "waves",
            "checkpoint_every", "eval_every", "eval_split", "max_nan_retries", "divergence");

    /**
     * Where these settings describe another adapter than {@code trained} does (an adapter's resolved settings as
     * it trained), one "key: value here, value there" per differing key; locations, scheduling and safeguards are not compared.
     */
    public List<String> differencesFrom(TrainConfig trained) {
        Map<String, JsonNode> here = new java.util.TreeMap<>(), there = new java.util.TreeMap<>();
        flatten("", YamlConfig.json().valueToTree(this), here);
        flatten("", YamlConfig.json().valueToTree(trained), there);
        Set<String> keys = new java.util.TreeSet<>(here.keySet());
        keys.addAll(there.keySet());
        List<String> differences = new java.util.ArrayList<>();
        for (String key : keys) {
            if (PLACES_AND_SCHEDULING.contains(key.split("\\.")[0])) continue;
            JsonNode a = here.get(key), b = there.get(key);
            if (!java.util.Objects.equals(a, b)) differences.add(key + " is " + a + " here, " + b + " in the checkpoint");
        }
        return differences;
    }

    private static void flatten(String prefix, JsonNode node, Map<String, JsonNode> into) {
        if (node.isObject() && node.size() > 0) {
            node.fields().forEachRemaining(e -> flatten(prefix.isEmpty() ? e.getKey() : prefix + "." + e.getKey(), e.getValue(), into));
        } else {
            into.put(prefix, node);
        }
    }

    /** The same settings, writing adapters to {@code uri} (export to another place). */
    public TrainConfig withOutput(String uri) {
        return new TrainConfig(model, shards, adapters, uri, report, checkpoints, checkpointEvery, evalEvery, lora, head, optimizer, batchSize,
                partitions, localSteps, epochs, rounds, seed, optimizerState, maxNanRetries, trainSplit, evalSplit, waves, divergence);
    }

    private static String qualify(String uri, org.apache.hadoop.conf.Configuration conf) throws IOException {
        org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(uri);
        return p.getFileSystem(conf).makeQualified(p).toString();
    }

    public static TrainConfig load(byte[] yaml, String source, List<String> overrides) throws IOException {
        return YamlConfig.load(yaml, source, overrides, TrainConfig.class);
    }

    private static void require(String value, String key) {
        if (value == null || value.isBlank()) throw new IllegalArgumentException(key + ": required");
    }

    private static int positive(int v, String key) {
        if (v <= 0) throw new IllegalArgumentException(key + ": must be > 0, is " + v);
        return v;
    }

    private static int positiveOrZero(int v, String key) {
        if (v < 0) throw new IllegalArgumentException(key + ": must be >= 0, is " + v);
        return v;
    }
}
