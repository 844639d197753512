package io.lorafleet.spark;

import io.lorafleet.datasets.Manifest;
import io.lorafleet.datasets.YamlConfig;
import io.lorafleet.io.HfConfig;
import io.lorafleet.io.PretrainedModel;
import io.lorafleet.io.Sha256;
import io.lorafleet.model.ModelWeights;
import io.lorafleet.model.TransformerConfig;
import io.lorafleet.nn.LoraConfig;
import io.lorafleet.train.TrainState;
import io.lorafleet.train.Trainer;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.SparkSession;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.IntStream;

/**
 * {@code lorafleet train --config train.yaml}: data-parallel LoRA over Spark. Each round the driver
 * broadcasts the trainable state (A, B, head, optimizer state — never a frozen weight), each of W tasks runs
 * K local steps over the frozen base its executor JVM loaded once, and the driver averages what they return,
 * weighted by examples, in partition order (so a re-run, a retried task or a resumed run gives the same
 * bits). Checkpoints every N rounds; a round with NaN/Inf is redone from the last good state at half the
 * learning rate.
 */
public final class TrainJob {
    public static void main(String[] args) {
        SparkJobs.configMain("train", args, TrainConfig::load, (spark, config, parsed) -> train(spark, config, parsed.overwrite(), parsed.resume()));
    }

    /** One adapter's outcome. */
    public record AdapterRun(String adapter, TrainState state, int rounds, long examples, long tokens, double finalLoss,
                             Trainer.Evaluation evaluation, double seconds, long broadcastBytes, long resultBytes) implements Serializable {
        public double accuracy() {
            return evaluation.examples() == 0 ? Double.NaN : evaluation.correct() / (double) evaluation.examples();
        }
    }

    /** What the driver checked before any Spark work. */
    record Prepared(TransformerConfig modelConfig, String modelHash, long modelBytes, Manifest manifest, String manifestSha256,
                    List<String> adapters) { }

    public static List<AdapterRun> train(SparkSession spark, TrainConfig given, boolean overwrite, boolean resume) throws IOException {
        Configuration conf = spark.sparkContext().hadoopConfiguration();
        TrainConfig config = given.qualified(conf);
        Prepared prepared = prepare(config, conf);
        List<AdapterRun> runs = new ArrayList<>();
        for (String adapter : prepared.adapters()) runs.add(trainAdapter(spark, config, prepared, adapter, overwrite, resume));
        return runs;
    }

    /** Every check that needs no Spark work: the model's config, LoRA targets, the shards, their tokenizer, the adapters. */
    static Prepared prepare(TrainConfig config, Configuration conf) throws IOException {
        HadoopModelFiles model = new HadoopModelFiles(config.model(), conf);
        if (!model.exists(PretrainedModel.CONFIG)) throw new IOException("model: " + model.describe(PretrainedModel.CONFIG) + " is missing");
        TransformerConfig modelConfig = HfConfig.parse(model.readAll(PretrainedModel.CONFIG), model.describe(PretrainedModel.CONFIG));
        LoraConfig lora = config.lora().toConfig();
        List<String> modules = ModelWeights.projectionModules(modelConfig);
        for (String target : lora.targetModules()) {
            if (modules.stream().noneMatch(m -> LoraConfig.matches(m, target))) {
                throw new IllegalArgumentException("lora.target_modules: '" + target + "' matches no module of " + config.model() + "; its modules are e.g. "
                        + modules.subList(0, Math.min(6, modules.size())));
            }
        }
        String manifestUri = new Path(config.shards(), Manifest.FILE).toString();
        FileSystem fs = new Path(manifestUri).getFileSystem(conf);
        if (!fs.exists(new Path(manifestUri))) throw new IOException("shards: " + manifestUri + " is missing (not a complete tokenize output)");
        byte[] manifestBytes = SparkJobs.readFile(manifestUri, conf);
        Manifest manifest = Manifest.parse(manifestBytes, manifestUri);
        if (manifest.objective().equals("causal_lm") && !modelConfig.modelType().equals("gpt2")) {
            throw new IllegalArgumentException("shards: " + config.shards() + " hold causal-LM blocks, which need a decoder (gpt2 family); "
                    + config.model() + " is " + modelConfig.modelType());
        }
        if (!model.exists(PretrainedModel.TOKENIZER)) throw new IOException("model: " + model.describe(PretrainedModel.TOKENIZER) + " is missing");
        String modelTokenizer = Sha256.of(model.readAll(PretrainedModel.TOKENIZER));
        if (!modelTokenizer.equals(manifest.tokenizerSha256())) {
            throw new IllegalArgumentException("shards: " + config.shards() + " were tokenized with " + manifest.tokenizer() + " (SHA-256 "
                    + manifest.tokenizerSha256() + "), but " + model.describe(PretrainedModel.TOKENIZER) + " is another tokenizer (SHA-256 "
                    + modelTokenizer + ")");
        }
        List<String> adapters = config.adapters().isEmpty() ? List.copyOf(manifest.adapters().keySet()) : config.adapters();
        for (String a : adapters) {
            if (io.lorafleet.datasets.DatasetSpec.safeName(a) == null) throw new IllegalArgumentException("adapters: '" + a + "' is not a safe folder name");
            Manifest.AdapterStats stats = manifest.adapters().get(a);
            if (stats == null) throw new IllegalArgumentException("adapters: '" + a + "' is not in " + manifestUri + " (it has " + manifest.adapters().keySet() + ")");
            if (stats.rows().getOrDefault(config.trainSplit(), 0L) == 0) {
                throw new IllegalArgumentException("train_split: adapter '" + a + "' has no rows in split '" + config.trainSplit() + "' (" + stats.rows() + ")");
            }
            if (manifest.objective().equals("classification") && stats.labels().size() < 2) {
                throw new IllegalArgumentException("adapters: '" + a + "' has " + stats.labels().size() + " label(s); classification needs 2 or more");
            }
        }
        String hash = PretrainedModel.contentHash(model);
        long bytes = 4L * ModelWeights.expectedShapes(modelConfig).values().stream()
                .mapToLong(shape -> java.util.Arrays.stream(shape).reduce(1, (x, y) -> x * y)).sum();
        return new Prepared(modelConfig, hash, bytes, manifest, Sha256.of(manifestBytes), adapters);
    }

    static AdapterRun trainAdapter(SparkSession spark, TrainConfig c, Prepared p, String adapter, boolean overwrite, boolean resume)
            throws IOException {
        long started = System.nanoTime();
        Configuration conf = spark.sparkContext().hadoopConfiguration();
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        Manifest.AdapterStats stats = p.manifest().adapters().get(adapter);
        long trainRows = stats.rows().get(c.trainSplit());
        long batchesPerEpoch = (trainRows + c.batchSize() - 1) / c.batchSize();
        long perRound = (long) c.partitions() * c.localSteps();
        int rounds = c.rounds() != null ? c.rounds() : (int) Math.max(1, Math.ceil(c.epochs() * batchesPerEpoch / perRound));
        TrainWorker.Spec spec = new TrainWorker.Spec(c, p.modelHash(), p.manifest(), adapter, stats.labels().size(), rounds, new HadoopConf(conf));
        String fingerprint = fingerprint(c, p, adapter, rounds);

        Path dir = new Path(c.checkpoints(), adapter);
        FileSystem fs = dir.getFileSystem(conf);
        Path adapterOut = new Path(c.output(), adapter);
        if (adapterOut.getFileSystem(conf).exists(adapterOut) && !overwrite) {
            throw new IOException(adapterOut + ": an adapter exists (pass --overwrite to replace it)");
        }
        int start = 0;
        TrainState state = null;
        double lrScale = 1.0;
        List<Map<String, Object>> metrics = new ArrayList<>();
        if (fs.exists(dir)) {
            if (resume) {
                Optional<Checkpoints.Loaded> last = Checkpoints.latest(conf, dir);
                if (last.isPresent()) {
                    Checkpoints.Info info = last.get().info();
                    if (!info.fingerprint().equals(fingerprint)) {
                        throw new IllegalArgumentException("--resume: " + dir + " holds checkpoints of a different configuration, model or data; "
                                + "start over with --overwrite or point checkpoints elsewhere");
                    }
                    state = last.get().state();
                    start = info.round() + 1;
                    lrScale = info.learningRateScale();
                    metrics.addAll(readMetrics(conf, dir, start));
                    SparkJobs.progress("train", "%s: resuming after round %d of %d from %s", adapter, info.round() + 1, rounds, dir);
                }
            } else if (overwrite) {
                fs.delete(dir, true);
            } else {
                throw new IOException(dir + ": checkpoints exist (pass --resume to continue, or --overwrite to start over)");
            }
        }
        SparkJobs.progress("train", "%s: %,d training rows, %d rounds × %d partitions × %d local steps × batch %d (%.2f epochs), model %s",
                adapter, trainRows, rounds, c.partitions(), c.localSteps(), c.batchSize(), rounds * perRound * c.batchSize() / (double) trainRows,
                p.modelHash().substring(0, 12));

        long examples = 0, tokens = 0, broadcastBytes = 0, resultBytes = 0;
        double lastLoss = Double.NaN;
        int retries = 0;
        long loopStarted = System.nanoTime();
        for (int round = start; round < rounds; ) {
            long roundStarted = System.nanoTime();
            TrainWorker.RoundInput input = new TrainWorker.RoundInput(state, lrScale, round);
            Broadcast<TrainWorker.RoundInput> broadcast = sc.broadcast(input);
            List<TrainWorker.RoundResult> results = new ArrayList<>(sc.parallelize(IntStream.range(0, c.partitions()).boxed().toList(), c.partitions())
                    .map(w -> TrainWorker.run(spec, broadcast.value(), w)).collect());
            broadcast.destroy();
            results.sort(Comparator.comparingInt(TrainWorker.RoundResult::partition));
            Optional<TrainWorker.RoundResult> bad = results.stream().filter(TrainWorker.RoundResult::failed).findFirst();
            if (bad.isPresent()) {
                retries++;
                String what = String.format("%s: round %d: loss %s in partition %d at global batch %d (learning-rate scale %s)", adapter, round + 1,
                        bad.get().badLoss(), bad.get().partition(), bad.get().badBatch(), lrScale);
                if (retries > c.maxNanRetries()) {
                    throw new IOException(what + "; gave up after " + c.maxNanRetries() + " retries at lower learning rates. The last good checkpoint "
                            + "(if any) is kept in " + dir);
                }
                lrScale *= 0.5;
                SparkJobs.progress("train", "%s; update rejected, redoing the round from the last good state at learning-rate scale %s", what, lrScale);
                continue;
            }
            long sent = serializedSize(input), returned = 0;
            for (TrainWorker.RoundResult r : results) returned += serializedSize(r);
            broadcastBytes += sent;
            resultBytes += returned;
            state = average(results);
            long roundExamples = results.stream().mapToLong(TrainWorker.RoundResult::examples).sum();
            long roundTokens = results.stream().mapToLong(TrainWorker.RoundResult::tokens).sum();
            lastLoss = results.stream().mapToDouble(TrainWorker.RoundResult::lossSum).sum() / roundExamples;
            examples += roundExamples;
            tokens += roundTokens;
            double seconds = (System.nanoTime() - roundStarted) / 1e9;
            double perRoundSoFar = (System.nanoTime() - loopStarted) / 1e9 / (round - start + 1);
            SparkJobs.progress("train", "%s round %d/%d: loss %.4f, %,.0f examples/s, %,.0f tokens/s, moved %s out + %s back (%.2f%% of the model), ETA %s",
                    adapter, round + 1, rounds, lastLoss, roundExamples / seconds, roundTokens / seconds, mb(sent), mb(returned),
                    100.0 * Math.max(sent, returned / c.partitions()) / p.modelBytes(), eta(perRoundSoFar * (rounds - round - 1)));
            Map<String, Object> line = new LinkedHashMap<>();
            line.put("round", round + 1);
            line.put("loss", lastLoss);
            line.put("examples", roundExamples);
            line.put("tokens", roundTokens);
            line.put("seconds", seconds);
            line.put("examples_per_second", roundExamples / seconds);
            line.put("tokens_per_second", roundTokens / seconds);
            line.put("broadcast_bytes", sent);
            line.put("result_bytes", returned);
            line.put("learning_rate_scale", lrScale);
            metrics.add(line);
            writeMetrics(conf, dir, metrics);
            if (c.checkpointEvery() > 0 && (round + 1) % c.checkpointEvery() == 0 && round + 1 < rounds) {
                Checkpoints.write(conf, dir, Checkpoints.roundName(round), state,
                        new Checkpoints.Info(adapter, round, rounds, state.steps(), lrScale, fingerprint, p.modelHash()));
            }
            retries = 0;
            round++;
        }

        Broadcast<TrainState> finalState = sc.broadcast(state);
        Trainer.Evaluation evaluation = p.manifest().adapters().get(adapter).rows().getOrDefault(c.evalSplit(), 0L) == 0
                ? new Trainer.Evaluation(0, 0, 0)
                : sc.parallelize(IntStream.range(0, c.partitions()).boxed().toList(), c.partitions())
                        .map(w -> TrainWorker.evaluate(spec, finalState.value(), w)).reduce(Trainer.Evaluation::plus);
        Checkpoints.write(conf, dir, "final", state, new Checkpoints.Info(adapter, rounds - 1, rounds, state.steps(), lrScale, fingerprint, p.modelHash()));
        double seconds = (System.nanoTime() - started) / 1e9;
        AdapterRun run = new AdapterRun(adapter, state, rounds, examples, tokens, lastLoss, evaluation, seconds, broadcastBytes, resultBytes);
        byte[] summary = metricsJson(run, p, c);
        OutputFolder.writeFile(fs, new Path(dir, io.lorafleet.io.PeftAdapter.METRICS), summary);
        Path written = writeAdapter(sc, spec, finalState, p, summary, overwrite);
        finalState.destroy();
        double evalLoss = evaluation.examples() == 0 ? Double.NaN : evaluation.lossSum() / evaluation.examples();
        SparkJobs.progress("train", "%s done: %d rounds in %.1f s, final training loss %.4f; %s: loss %.4f, %s → %s", adapter, rounds, seconds,
                lastLoss, c.evalSplit(), evalLoss, spec.causalLm() ? String.format("perplexity %.2f over %,d tokens", Math.exp(evalLoss), evaluation.examples())
                        : String.format("accuracy %.4f on %,d rows", run.accuracy(), evaluation.examples()), written);
        return run;
    }

    /**
     * {@code lorafleet export --config train.yaml}: writes each adapter's PEFT folder again from its final
     * checkpoint (e.g. to another file system with {@code --set output=s3a://...}).
     */
    public static List<Path> export(SparkSession spark, TrainConfig given, boolean overwrite) throws IOException {
        Configuration conf = spark.sparkContext().hadoopConfiguration();
        TrainConfig c = given.qualified(conf);
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        Prepared p = prepare(c, conf);
        List<Path> written = new ArrayList<>();
        for (String adapter : p.adapters()) {
            Path dir = new Path(c.checkpoints(), adapter);
            Checkpoints.Loaded last = Checkpoints.read(conf, new Path(dir, "final"));
            if (!last.info().modelSha256().equals(p.modelHash())) {
                throw new IOException(dir + "/final was trained on base SHA-256 " + last.info().modelSha256() + ", but " + c.model() + " is " + p.modelHash());
            }
            TrainWorker.Spec spec = new TrainWorker.Spec(c, p.modelHash(), p.manifest(), adapter, p.manifest().adapters().get(adapter).labels().size(),
                    last.info().rounds(), new HadoopConf(conf));
            Broadcast<TrainState> state = sc.broadcast(last.state());
            written.add(writeAdapter(sc, spec, state, p, SparkJobs.readFile(new Path(dir, io.lorafleet.io.PeftAdapter.METRICS).toString(), conf), overwrite));
            state.destroy();
            SparkJobs.progress("export", "%s → %s", adapter, written.get(written.size() - 1));
        }
        return written;
    }

    /** The adapter folder: PEFT files built where the model is cached, plus provenance and metrics; complete or absent. */
    private static Path writeAdapter(JavaSparkContext sc, TrainWorker.Spec spec, Broadcast<TrainState> state, Prepared p, byte[] metrics,
                                     boolean overwrite) throws IOException {
        Map<String, byte[]> files = new LinkedHashMap<>(sc.parallelize(List.of(0), 1).map(x -> TrainWorker.adapterFiles(spec, state.value())).collect().get(0));
        files.put(io.lorafleet.io.PeftAdapter.INFO, provenance(spec.config(), p, spec.adapter(), p.manifest().adapters().get(spec.adapter())));
        files.put(io.lorafleet.io.PeftAdapter.METRICS, metrics);
        return AdapterFolder.write(new Path(spec.config().output(), spec.adapter()).toString(), files, sc.hadoopConfiguration(), overwrite);
    }

    /** lorafleet.json: what the adapter was trained from, so eval and merge can refuse a different base. */
    private static byte[] provenance(TrainConfig c, Prepared p, String adapter, Manifest.AdapterStats stats) throws IOException {
        Map<String, Object> info = new LinkedHashMap<>();
        info.put("format_version", 1);
        info.put("adapter_id", adapter);
        info.put("base_model", c.model());
        info.put("base_model_sha256", p.modelHash());
        info.put("tokenizer_sha256", p.manifest().tokenizerSha256());
        info.put("shards", c.shards());
        info.put("shards_manifest_sha256", p.manifestSha256());
        info.put("labels", stats.labels());
        info.put("pooling", c.head().pooling());
        info.put("training", c);
        info.put("lorafleet_version", version());
        return YamlConfig.json().writeValueAsBytes(info);
    }

    private static byte[] metricsJson(AdapterRun run, Prepared p, TrainConfig c) throws IOException {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("adapter_id", run.adapter());
        m.put("trainable_params", run.state().values().length);
        m.put("total_params", p.modelBytes() / 4 + run.state().values().length);
        m.put("examples", run.examples());
        m.put("tokens", run.tokens());
        m.put("rounds", run.rounds());
        m.put("final_train_loss", run.finalLoss());
        Map<String, Object> eval = new LinkedHashMap<>();
        boolean lm = p.manifest().objective().equals("causal_lm");
        Double loss = run.evaluation().examples() == 0 ? null : run.evaluation().lossSum() / run.evaluation().examples();
        eval.put("split", c.evalSplit());
        eval.put(lm ? "predicted_tokens" : "examples", run.evaluation().examples());
        eval.put("loss", loss);
        if (lm) eval.put("perplexity", loss == null ? null : Math.exp(loss));
        else eval.put("accuracy", loss == null ? null : run.accuracy());
        m.put("evaluation", eval);
        m.put("wall_seconds", run.seconds());
        m.put("tokens_per_second", run.tokens() / run.seconds());
        m.put("broadcast_bytes", run.broadcastBytes());
        m.put("result_bytes", run.resultBytes());
        return YamlConfig.json().writeValueAsBytes(m);
    }

    static String version() {
        try (var in = TrainJob.class.getResourceAsStream("/lorafleet-version.properties")) {
            java.util.Properties p = new java.util.Properties();
            if (in != null) p.load(in);
            return p.getProperty("version", "unknown");
        } catch (IOException e) {
            return "unknown";
        }
    }

    /** Σ nᵢ·θᵢ / Σ nᵢ over the workers, summed in double in partition order. */
    static TrainState average(List<TrainWorker.RoundResult> results) {
        double total = results.stream().mapToLong(TrainWorker.RoundResult::examples).sum();
        float[] values = weightedMean(results, total, r -> r.state().values());
        float[] optimizer = results.get(0).state().optimizerState().length == 0 ? new float[0]
                : weightedMean(results, total, r -> r.state().optimizerState());
        return new TrainState(values, optimizer, results.get(0).state().steps());
    }

    private static float[] weightedMean(List<TrainWorker.RoundResult> results, double total,
                                        java.util.function.Function<TrainWorker.RoundResult, float[]> part) {
        double[] sum = new double[part.apply(results.get(0)).length];
        for (TrainWorker.RoundResult r : results) {
            float[] v = part.apply(r);
            double w = r.examples();
            for (int i = 0; i < sum.length; i++) sum[i] += w * v[i];
        }
        float[] mean = new float[sum.length];
        for (int i = 0; i < sum.length; i++) mean[i] = (float) (sum[i] / total);
        return mean;
    }

    /** What a resumed run must share with the run that wrote the checkpoints for the result to be the same. */
    private static String fingerprint(TrainConfig c, Prepared p, String adapter, int rounds) throws IOException {
        Map<String, Object> what = new LinkedHashMap<>();
        what.put("lora", c.lora());
        what.put("head", c.head());
        what.put("optimizer", c.optimizer());
        what.put("batch_size", c.batchSize());
        what.put("partitions", c.partitions());
        what.put("local_steps", c.localSteps());
        what.put("rounds", rounds);
        what.put("seed", c.seed());
        what.put("optimizer_state", c.optimizerState());
        what.put("train_split", c.trainSplit());
        what.put("model", p.modelHash());
        what.put("adapter", adapter);
        what.put("shards", p.manifest().shards().stream().filter(f -> f.adapterId().equals(adapter)).map(Manifest.ShardFile::sha256).toList());
        return Sha256.of(YamlConfig.json().writeValueAsBytes(what));
    }

    private static void writeMetrics(Configuration conf, Path dir, List<Map<String, Object>> metrics) throws IOException {
        StringBuilder lines = new StringBuilder();
        for (Map<String, Object> m : metrics) lines.append(YamlConfig.json().writer().without(com.fasterxml.jackson.databind.SerializationFeature.INDENT_OUTPUT)
                .writeValueAsString(m)).append('\n');
        FileSystem fs = dir.getFileSystem(conf);
        fs.mkdirs(dir);
        OutputFolder.writeFile(fs, new Path(dir, "metrics.jsonl"), lines.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> readMetrics(Configuration conf, Path dir, int rounds) throws IOException {
        Path file = new Path(dir, "metrics.jsonl");
        List<Map<String, Object>> kept = new ArrayList<>();
        if (!file.getFileSystem(conf).exists(file)) return kept;
        for (String line : new String(SparkJobs.readFile(file.toString(), conf), java.nio.charset.StandardCharsets.UTF_8).split("\n")) {
            if (line.isBlank()) continue;
            Map<String, Object> m = YamlConfig.json().readValue(line, Map.class);
            if (((Number) m.get("round")).intValue() <= rounds) kept.add(m);
        }
        return kept;
    }

    static long serializedSize(Object o) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(o);
        }
        return bytes.size();
    }

    private static String mb(long bytes) {
        return String.format("%.2f MB", bytes / 1e6);
    }

    private static String eta(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600 ? String.format("%dh%02dm", s / 3600, s % 3600 / 60) : String.format("%dm%02ds", s / 60, s % 60);
    }
}
