package io.lorafleet.spark;

import com.fasterxml.jackson.databind.JsonNode;
import io.lorafleet.datasets.DatasetSpec;
import io.lorafleet.datasets.Manifest;
import io.lorafleet.datasets.YamlConfig;
import io.lorafleet.io.HfConfig;
import io.lorafleet.io.PretrainedModel;
import io.lorafleet.datasets.Sha256;
import io.lorafleet.model.ModelWeights;
import io.lorafleet.model.TransformerConfig;
import io.lorafleet.nn.LoraConfig;
import io.lorafleet.train.BulkTrainer;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Everything the train job decides before any Spark work: the checks every adapter shares (model config,
 * shards, tokenizer) fail the job; an adapter's own problems (not in the shards, no rows, a bad override)
 * fail only that adapter. Then the adapters that can train are grouped into waves.
 */
final class TrainPlan {
    private TrainPlan() { }

    /** What the shared checks found. */
    record Prepared(TransformerConfig modelConfig, String modelHash, long modelBytes, Manifest manifest, String manifestUri, String manifestSha256) { }

    /** An adapter that can train ({@code spec}), or the reason it cannot ({@code failure}). */
    record Planned(String adapter, TrainWorker.Spec spec, String failure) { }

    static Prepared prepare(TrainConfig config, Configuration conf) throws IOException {
        HadoopModelFiles model = new HadoopModelFiles(config.model(), conf);
        if (!model.exists(PretrainedModel.CONFIG)) throw new IOException("model: " + model.describe(PretrainedModel.CONFIG) + " is missing");
        TransformerConfig modelConfig = HfConfig.parse(model.readAll(PretrainedModel.CONFIG), model.describe(PretrainedModel.CONFIG));
        if (config.lora() != null) checkTargets(config.lora(), modelConfig, config.model());
        String manifestUri = new Path(config.shards(), Manifest.FILE).toString();
        FileSystem fs = new Path(manifestUri).getFileSystem(conf);
        if (!fs.exists(new Path(manifestUri))) throw new IOException("shards: " + manifestUri + " is missing (not a complete tokenize output)");
        byte[] manifestBytes = SparkJobs.readFile(manifestUri, conf);
        Manifest manifest = Manifest.parse(manifestBytes, manifestUri);
        if (manifest.languageModel() && !modelConfig.causal()) {
            throw new IllegalArgumentException("shards: " + config.shards() + " hold " + manifest.objective() + " rows, which need a decoder (gpt2, llama, mistral, qwen2); "
                    + config.model() + " is " + modelConfig.architecture().modelType());
        }
        if (!model.exists(PretrainedModel.TOKENIZER)) throw new IOException("model: " + model.describe(PretrainedModel.TOKENIZER) + " is missing");
        if (!manifest.sameTokenizer(model.readAll(PretrainedModel.TOKENIZER), model.describe(PretrainedModel.TOKENIZER))) {
            throw new IllegalArgumentException("shards: " + config.shards() + " were tokenized with " + manifest.tokenizer() + ", but "
                    + model.describe(PretrainedModel.TOKENIZER) + " gives other ids (its vocabulary, merges, normalizer, pre-tokenizer, "
                    + "post-processor or added tokens differ)");
        }
        String hash = PretrainedModel.contentHash(model);
        long bytes = 4L * ModelWeights.expectedShapes(modelConfig).values().stream()
                .mapToLong(shape -> java.util.Arrays.stream(shape).reduce(1, (x, y) -> x * y)).sum();
        return new Prepared(modelConfig, hash, bytes, manifest, manifestUri, Sha256.of(manifestBytes));
    }

    private static void checkTargets(LoraConfig lora, TransformerConfig modelConfig, String model) {
        lora.requireMatches(ModelWeights.projectionModules(modelConfig), model);
    }

    static List<Planned> plan(TrainConfig config, Prepared p, Configuration conf) {
        List<Planned> out = new ArrayList<>();
        for (String adapter : config.adapterIds(p.manifest().adapters().keySet())) {
            try {
                out.add(new Planned(adapter, spec(config, p, adapter, conf), null));
            } catch (IOException | IllegalArgumentException e) {
                out.add(new Planned(adapter, null, e.getMessage()));
            }
        }
        return out;
    }

    private static TrainWorker.Spec spec(TrainConfig config, Prepared p, String adapter, Configuration conf) throws IOException {
        if (DatasetSpec.safeName(adapter) == null) throw new IllegalArgumentException("adapters: '" + adapter + "' is not a safe folder name");
        Manifest.AdapterStats stats = p.manifest().adapters().get(adapter);
        if (stats == null) {
            throw new IllegalArgumentException("adapters: '" + adapter + "' is not in " + p.manifestUri() + " (it has " + p.manifest().adapters().keySet()
                    + ")" + (p.manifest().quarantine() == null ? "" : "; if its rows were all rejected, they are in "
                    + new Path(new Path(p.manifestUri()).getParent(), p.manifest().quarantine())));
        }
        TrainConfig c = config.forAdapter(adapter);
        long trainRows = stats.rows().getOrDefault(c.trainSplit(), 0L);
        if (trainRows == 0) throw new IllegalArgumentException("train_split: adapter '" + adapter + "' has no rows in split '" + c.trainSplit() + "' (" + stats.rows() + ")");
        if (p.manifest().objective().equals("classification") && stats.labels().size() < 2) {
            throw new IllegalArgumentException("adapters: '" + adapter + "' has " + stats.labels().size() + " label(s); classification needs 2 or more");
        }
        checkTargets(c.lora(), p.modelConfig(), c.model());
        if (p.manifest().maxLength(adapter) > p.modelConfig().maxPositions()) {
            throw new IllegalArgumentException("adapters: '" + adapter + "' has rows of up to " + p.manifest().maxLength(adapter) + " tokens, but "
                    + c.model() + " has " + p.modelConfig().maxPositions() + " positions (max_position_embeddings); tokenize it with a shorter max_length");
        }
        long batchesPerEpoch = (trainRows + c.batchSize() - 1) / c.batchSize();
        long perRound = (long) c.partitions() * c.localSteps();
        int rounds = c.rounds() != null ? c.rounds() : (int) Math.max(1, Math.ceil(c.epochs() * batchesPerEpoch / perRound));
        TrainWorker.Spec spec = new TrainWorker.Spec(c, p.modelHash(), p.manifest(), adapter, stats.labels().size(), rounds, new HadoopConf(conf));
        spec.optimizer(1.0); // validates the schedule against this adapter's step count
        return spec;
    }

    /**
     * Consecutive adapters in waves of at most {@code waves.max_adapters}. Memory bounds a task's step, not the
     * wave: the step runs its adapters in passes that fit {@code waves.memory_mb} of activations, and an adapter
     * whose batch alone is over it in micro-batches (BulkTrainer). Prints each wave's estimated step memory per
     * task, the adapters that train in micro-batches, and those whose single sequence of max_length is over the
     * budget (they step above it).
     */
    static List<TrainWorker.Wave> waves(List<TrainWorker.Spec> specs, TrainConfig c, Prepared p) {
        long budget = c.waves().memoryBytes();
        List<TrainWorker.Wave> waves = new ArrayList<>();
        Map<String, Integer> microBatched = new LinkedHashMap<>();
        List<String> over = new ArrayList<>();
        for (int first = 0; first < specs.size(); first += c.waves().maxAdapters()) {
            List<TrainWorker.Spec> wave = specs.subList(first, Math.min(specs.size(), first + c.waves().maxAdapters()));
            long total = 0;
            for (TrainWorker.Spec s : wave) {
                long bytes = stepBytes(s, p, s.config().batchSize()), one = stepBytes(s, p, 1);
                if (one > budget) over.add(s.adapter());
                else if (microBatched(s, p)) microBatched.put(s.adapter(), (int) Math.min(s.config().batchSize(), budget / one));
                total += bytes;
            }
            waves.add(new TrainWorker.Wave(waves.size(), List.copyOf(wave)));
            SparkJobs.progress("train", "wave %d: %d adapter(s); step activations per task ≤ %d MB (%d MB fused whole; waves.memory_mb %d)",
                    waves.size(), wave.size(), taskStepBytes(wave, c, p) >> 20, total >> 20, c.waves().memoryMb());
        }
        if (!microBatched.isEmpty()) {
            SparkJobs.progress("train", "%s: batch_size × max_length takes more than waves.memory_mb (%d MB) of step activations; "
                    + "each step runs in micro-batches (at least %d sequence(s) each) and adds up their gradients", few(microBatched.keySet()),
                    c.waves().memoryMb(), microBatched.values().stream().mapToInt(Integer::intValue).min().orElseThrow());
        }
        if (!over.isEmpty()) {
            SparkJobs.progress("train", "warning: %s: one sequence of max_length takes more than waves.memory_mb (%d MB) of step activations, "
                    + "and steps above it; lower max_length or raise waves.memory_mb", few(over), c.waves().memoryMb());
        }
        return waves;
    }

    /**
     * The most step activations one task of the wave takes: its adapters' batches fused whole when they fit the budget,
     * else the budget (passes and micro-batches within it), or more where one sequence alone is over it.
     */
    static long taskStepBytes(List<TrainWorker.Spec> wave, TrainConfig c, Prepared p) {
        long total = 0, sequence = 0;
        for (TrainWorker.Spec s : wave) {
            total += stepBytes(s, p, s.config().batchSize());
            sequence = Math.max(sequence, stepBytes(s, p, 1));
        }
        return Math.max(sequence, Math.min(total, c.waves().memoryBytes()));
    }

    /**
     * What an executor's process holds at its peak: {@link #BASE_BYTES}, the frozen weights (one copy per executor),
     * and per concurrent task its step's activations (an evaluation keeps to the same budget).
     */
    record MemoryEstimate(long baseBytes, long modelBytes, int tasks, long taskBytes) {
        long totalBytes() { return baseBytes + modelBytes + tasks * taskBytes; }

        String describe() {
            return String.format(java.util.Locale.ROOT, "memory per executor ≈ %,d MB: %,d MB JVM, Spark and native libraries + %,d MB frozen weights + "
                    + "%d concurrent task(s) × %,d MB of step activations", totalBytes() >> 20, baseBytes >> 20, modelBytes >> 20, tasks, taskBytes >> 20);
        }
    }

    /**
     * An executor JVM's resident memory before any model or step: heap in use, class metadata and compiled code, Spark,
     * and the native libraries (libnd4j, OpenBLAS), with the launcher's JVM options (conf/spark-jvm.options); measured
     * as the peak RSS of a local[2] train job at batch size 1 (600 MB) less its weights and 2 × 39 MB of steps.
     */
    static final long BASE_BYTES = 430L << 20;

    /**
     * @param tasks how many of the job's tasks one executor runs at once (its cores, at most the job's partitions)
     */
    static MemoryEstimate memory(List<TrainWorker.Wave> waves, TrainConfig c, Prepared p, int tasks) {
        long task = 0;
        for (TrainWorker.Wave w : waves) task = Math.max(task, taskStepBytes(w.adapters(), c, p));
        return new MemoryEstimate(BASE_BYTES, p.modelBytes(), Math.min(tasks, c.partitions()), task);
    }

    /** Up to 5 items, then how many more: a line stays readable with a thousand adapters. */
    private static String few(java.util.Collection<?> items) {
        List<String> shown = items.stream().limit(5).map(String::valueOf).toList();
        return String.join(", ", shown) + (items.size() > 5 ? " and " + (items.size() - 5) + " more" : "");
    }

    /** Whether the adapter's largest batch is over the step budget, so that its steps may run in micro-batches. */
    static boolean microBatched(TrainWorker.Spec s, Prepared p) {
        return stepBytes(s, p, s.config().batchSize()) > s.config().waves().memoryBytes();
    }

    /** Step activations of {@code sequences} of the adapter's max_length (its largest batch: batch_size of them). */
    static long stepBytes(TrainWorker.Spec s, Prepared p, long sequences) {
        long length = p.manifest().maxLength(s.adapter());
        return BulkTrainer.stepBytes(BulkTrainer.StepShape.of(p.modelConfig(), s.config().lora(), s.modelSpec().causalLm()), sequences * length,
                sequences * length * length);
    }

    /** What a resumed run must share with the run that wrote the checkpoints for the result to be the same. */
    static String fingerprint(TrainWorker.Spec spec, Prepared p) throws IOException {
        return fingerprint(spec, p, spec.config().lora());
    }

    /**
     * Whether {@code checkpoint} was made with this adapter's settings, model and data. Checkpoints written before the
     * lora block was bound with its defaults filled in fingerprinted the block as the config wrote it (nulls for what it
     * left out): for them the fingerprint is taken over the checkpoint's own recorded block, which must mean exactly
     * today's settings.
     */
    static boolean madeBy(Checkpoints.Loaded checkpoint, TrainWorker.Spec spec, Prepared p) throws IOException {
        String recorded = checkpoint.info().fingerprint();
        if (fingerprint(spec, p).equals(recorded)) return true;
        JsonNode lora = checkpoint.infoJson().path("config").get("lora");
        if (lora == null || !lora.isObject()) return false;
        LoraConfig meant = YamlConfig.bind(lora, LoraConfig.class, "checkpoint.json config.lora");
        return fingerprint(spec, p, lora).equals(recorded)
                && YamlConfig.jsonLine(meant).equals(YamlConfig.jsonLine(spec.config().lora())); // in order: the first matching pattern wins
    }

    private static String fingerprint(TrainWorker.Spec spec, Prepared p, Object lora) throws IOException {
        TrainConfig c = spec.config();
        Map<String, Object> what = new LinkedHashMap<>();
        what.put("lora", lora);
        what.put("head", c.head());
        what.put("optimizer", c.optimizer());
        what.put("batch_size", c.batchSize());
        what.put("partitions", c.partitions());
        what.put("local_steps", c.localSteps());
        what.put("rounds", spec.rounds());
        what.put("seed", c.seed());
        what.put("optimizer_state", c.optimizerState());
        what.put("train_split", c.trainSplit());
        what.put("model", p.modelHash());
        what.put("adapter", spec.adapter());
        what.put("shards", p.manifest().shards().stream().filter(f -> f.adapterId().equals(spec.adapter())).map(Manifest.ShardFile::sha256).toList());
        // the budget decides how a batch over it splits into micro-batches (their dropout masks and the gradient's rounding)
        if (microBatched(spec, p)) what.put("waves.memory_mb", c.waves().memoryMb());
        return Sha256.of(YamlConfig.json().writeValueAsBytes(what));
    }
}
