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
        if (manifest.objective().equals("causal_lm") && !modelConfig.causal()) {
            throw new IllegalArgumentException("shards: " + config.shards() + " hold causal-LM blocks, which need a decoder (gpt2 family); "
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
     * wave: the step runs its adapters in groups that fit {@code waves.memory_mb} of activations (BulkTrainer).
     * Prints each wave's estimated step memory per task, and names adapters whose batch alone (batch_size
     * sequences of max_length tokens) exceeds the budget: each of them steps alone, above it.
     */
    static List<TrainWorker.Wave> waves(List<TrainWorker.Spec> specs, TrainConfig c, Prepared p) {
        long budget = (long) c.waves().memoryMb() << 20;
        List<TrainWorker.Wave> waves = new ArrayList<>();
        List<String> over = new ArrayList<>();
        for (int first = 0; first < specs.size(); first += c.waves().maxAdapters()) {
            List<TrainWorker.Spec> wave = specs.subList(first, Math.min(specs.size(), first + c.waves().maxAdapters()));
            long total = 0, largest = 0;
            for (TrainWorker.Spec s : wave) {
                long bytes = stepBytes(s, p);
                if (bytes > budget) over.add(s.adapter());
                total += bytes;
                largest = Math.max(largest, bytes);
            }
            waves.add(new TrainWorker.Wave(waves.size(), List.copyOf(wave)));
            SparkJobs.progress("train", "wave %d: %d adapter(s); step activations per task ≤ %d MB (%d MB fused whole; waves.memory_mb %d)",
                    waves.size(), wave.size(), Math.max(largest, Math.min(total, budget)) >> 20, total >> 20, c.waves().memoryMb());
        }
        if (!over.isEmpty()) {
            SparkJobs.progress("train", "warning: %s alone take(s) more than waves.memory_mb (%d MB) of step activations at batch_size × max_length "
                    + "and step(s) above it; lower batch_size or max_length, or raise waves.memory_mb", over, c.waves().memoryMb());
        }
        return waves;
    }

    /** Step activations of the adapter's largest batch: batch_size sequences of its own max_length. */
    static long stepBytes(TrainWorker.Spec s, Prepared p) {
        long length = p.manifest().maxLength(s.adapter()), batch = s.config().batchSize();
        return BulkTrainer.stepBytes(p.modelConfig(), batch * length, batch * length * length, s.modelSpec().causalLm());
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
        return Sha256.of(YamlConfig.json().writeValueAsBytes(what));
    }
}
