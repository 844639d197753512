package io.lorafleet.spark;

import io.lorafleet.datasets.YamlConfig;
import io.lorafleet.io.PeftAdapter;
import io.lorafleet.train.TrainState;
import io.lorafleet.train.DivergenceGuard;
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
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.IntStream;

/** The driver's side of one wave: rounds until each adapter is done or failed, then evaluation and export. */
final class WaveDriver {
    /** One adapter's bookkeeping on the driver. */
    private static final class Adapter {
        final TrainWorker.Spec spec;
        final String fingerprint;
        final Path dir;
        final List<Map<String, Object>> metrics = new ArrayList<>();
        int nextRound;
        TrainState state;
        final Rollback rollback;
        String failure;
        long examples, tokens, broadcastBytes, resultBytes;
        double lastLoss = Double.NaN;

        Adapter(TrainWorker.Spec spec, String fingerprint) {
            this.spec = spec;
            this.fingerprint = fingerprint;
            this.dir = new Path(spec.config().checkpoints(), spec.adapter());
            this.rollback = new Rollback(spec.config().maxNanRetries());
        }

        boolean training() {
            return failure == null && nextRound < spec.rounds();
        }

        String id() {
            return spec.adapter();
        }
    }

    private final JavaSparkContext sc;
    private final Configuration conf;
    private final TrainPlan.Prepared p;
    private final TrainWorker.Wave wave;
    private final int waves;
    private final boolean overwrite;
    private final List<Adapter> adapters = new ArrayList<>();
    private final TrainConfig shared;

    WaveDriver(SparkSession spark, TrainPlan.Prepared p, TrainWorker.Wave wave, int waves, boolean overwrite, boolean resume) throws IOException {
        this.sc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        this.conf = spark.sparkContext().hadoopConfiguration();
        this.p = p;
        this.wave = wave;
        this.waves = waves;
        this.overwrite = overwrite;
        this.shared = wave.shared();
        for (TrainWorker.Spec spec : wave.adapters()) {
            Adapter a = new Adapter(spec, TrainPlan.fingerprint(spec, p));
            start(a, resume);
            adapters.add(a);
        }
    }

    /** Picks up the adapter's latest checkpoint with --resume, or clears old ones with --overwrite. */
    private void start(Adapter a, boolean resume) throws IOException {
        FileSystem fs = a.dir.getFileSystem(conf);
        if (!fs.exists(a.dir)) return;
        if (!resume) {
            fs.delete(a.dir, true);
            return;
        }
        Optional<Checkpoints.Loaded> last = Checkpoints.latest(conf, a.dir);
        if (last.isEmpty()) return;
        Checkpoints.Info info = last.get().info();
        if (!TrainPlan.madeBy(last.get(), a.spec, p)) {
            a.failure = "--resume: " + a.dir + " holds checkpoints of a different configuration, model or data; start over with --overwrite or "
                    + "point checkpoints elsewhere";
            return;
        }
        a.state = last.get().state();
        a.nextRound = info.round() + 1;
        a.rollback.resume(a.state, a.nextRound, info.learningRateScale());
        a.metrics.addAll(readMetrics(conf, a.dir, a.nextRound));
        SparkJobs.progress("train", "%s: resuming after round %d of %d from %s", a.id(), a.nextRound, a.spec.rounds(), a.dir);
    }

    List<AdapterRun> run() throws IOException {
        long started = System.nanoTime();
        for (Adapter a : adapters) {
            long trainRows = p.manifest().adapters().get(a.id()).rows().get(shared.trainSplit());
            SparkJobs.progress("train", "wave %d/%d: %s: %,d training rows, %d rounds × %d partitions × %d local steps × batch %d (%.2f epochs), r=%d on %s",
                    wave.index() + 1, waves, a.id(), trainRows, a.spec.rounds(), shared.partitions(), shared.localSteps(), shared.batchSize(),
                    a.spec.rounds() * (double) shared.partitions() * shared.localSteps() * shared.batchSize() / trainRows,
                    a.spec.config().lora().r(), a.spec.config().lora().targetModules());
        }
        int sparkRounds = 0;
        int evalEvery = shared.evalEvery();
        while (adapters.stream().anyMatch(Adapter::training)) {
            round();
            sparkRounds++;
            if (evalEvery > 0 && sparkRounds % evalEvery == 0) evaluateForCurves();
            double perRound = (System.nanoTime() - started) / 1e9 / sparkRounds;
            int left = adapters.stream().filter(Adapter::training).mapToInt(a -> a.spec.rounds() - a.nextRound).max().orElse(0);
            SparkJobs.progress("train", "wave %d/%d: %d training, %d trained, %d failed; wave ETA %s", wave.index() + 1, waves,
                    adapters.stream().filter(Adapter::training).count(), adapters.stream().filter(a -> a.failure == null && !a.training()).count(),
                    adapters.stream().filter(a -> a.failure != null).count(), eta(perRound * left));
        }
        return finish((System.nanoTime() - started) / 1e9);
    }

    /** One Spark round: every adapter still training does its own next round. */
    private void round() throws IOException {
        long roundStarted = System.nanoTime();
        Map<String, TrainWorker.AdapterInput> training = new LinkedHashMap<>();
        Map<String, Double> scales = new LinkedHashMap<>();
        for (Adapter a : adapters) {
            scales.put(a.id(), a.rollback.learningRateScale());
            if (a.training()) training.put(a.id(), new TrainWorker.AdapterInput(a.state, a.rollback.learningRateScale(), a.nextRound));
        }
        TrainWorker.RoundInput input = new TrainWorker.RoundInput(training, scales);
        Broadcast<TrainWorker.RoundInput> broadcast = sc.broadcast(input);
        TrainWorker.Wave w = wave;
        List<TrainWorker.RoundResult> results = new ArrayList<>(sc.parallelize(IntStream.range(0, shared.partitions()).boxed().toList(), shared.partitions())
                .map(part -> TrainWorker.run(w, broadcast.value(), part)).collect());
        broadcast.destroy();
        results.sort(Comparator.comparingInt(TrainWorker.RoundResult::partition));
        double seconds = (System.nanoTime() - roundStarted) / 1e9;
        double compute = results.stream().mapToDouble(TrainWorker.RoundResult::stepSeconds).max().orElse(0);
        for (Adapter a : adapters) {
            if (training.containsKey(a.id())) update(a, results, training.get(a.id()), seconds, compute);
        }
    }

    /** Evaluates every adapter that is still training and adds the result to its latest metrics line (the final evaluation comes in {@link #finish}). */
    private void evaluateForCurves() throws IOException {
        Map<String, TrainState> states = new LinkedHashMap<>();
        for (Adapter a : adapters) if (a.training() && a.state != null && !a.metrics.isEmpty()) states.put(a.id(), a.state);
        if (states.isEmpty()) return;
        for (Map.Entry<String, Trainer.Evaluation> e : evaluate(states).entrySet()) {
            Adapter a = adapters.stream().filter(x -> x.id().equals(e.getKey())).findFirst().orElseThrow();
            Map<String, Object> line = a.metrics.get(a.metrics.size() - 1);
            RunReport.putEvaluation(line, e.getValue(), a.spec.causalLm());
            writeMetrics(conf, a.dir, a.metrics);
        }
    }

    /** Each state's evaluation on its adapter's evaluation split, all adapters in one Spark job. */
    private Map<String, Trainer.Evaluation> evaluate(Map<String, TrainState> states) {
        Broadcast<Map<String, TrainState>> broadcast = sc.broadcast(states);
        TrainWorker.Wave w = wave;
        Map<String, Trainer.Evaluation> out = new LinkedHashMap<>();
        for (Map<String, Trainer.Evaluation> part : sc.parallelize(IntStream.range(0, shared.partitions()).boxed().toList(), shared.partitions())
                .map(i -> TrainWorker.evaluate(w, broadcast.value(), i)).collect()) {
            part.forEach((id, e) -> out.merge(id, e, Trainer.Evaluation::plus));
        }
        broadcast.destroy();
        return out;
    }

    /** @param compute the slowest task's seconds in training steps; the rest of {@code seconds} is Spark's and ours around it */
    private void update(Adapter a, List<TrainWorker.RoundResult> all, TrainWorker.AdapterInput sent, double seconds, double compute) throws IOException {
        List<TrainWorker.AdapterResult> results = all.stream().map(r -> r.adapters().get(a.id())).toList();
        Optional<String> error = results.stream().map(TrainWorker.AdapterResult::error).filter(java.util.Objects::nonNull).findFirst();
        if (error.isPresent()) {
            a.failure = error.get();
            SparkJobs.progress("train", "%s: FAILED: %s", a.id(), a.failure);
            return;
        }
        int round = sent.round();
        String rejected = null;
        for (int part = 0; part < results.size() && rejected == null; part++) {
            TrainWorker.AdapterResult bad = results.get(part);
            if (bad.nonFinite()) {
                rejected = bad.badWhat() + " in partition " + part + (bad.badBatch() == Long.MAX_VALUE ? "" : " at global batch " + bad.badBatch());
            }
        }
        TrainState averaged = rejected == null ? TrainState.weightedMean(results.stream().map(TrainWorker.AdapterResult::state).toList(),
                results.stream().mapToLong(TrainWorker.AdapterResult::examples).toArray()) : null;
        long roundExamples = results.stream().mapToLong(TrainWorker.AdapterResult::examples).sum();
        double loss = results.stream().mapToDouble(TrainWorker.AdapterResult::lossSum).sum() / roundExamples;
        double updateNorm = a.state == null || averaged == null ? Double.NaN : DivergenceGuard.updateNorm(a.state, averaged);
        if (rejected == null && a.state != null) rejected = a.spec.config().divergence().checkUpdate(updateNorm, DivergenceGuard.norm(a.state));
        if (rejected == null) {
            List<Double> updates = a.metrics.stream().map(m -> m.get("update_norm") instanceof Number n ? n.doubleValue() : Double.NaN).toList();
            rejected = a.spec.config().divergence().check(loss, chanceLoss(a), updateNorm, acceptedLosses(a), updates);
        }
        if (rejected != null) {
            reject(a, round, String.format("round %d: %s (learning-rate scale %s)", round + 1, rejected, a.rollback.learningRateScale()));
            return;
        }
        long sent0 = serializedSize(sent), returned = 0;
        for (TrainWorker.AdapterResult r : results) returned += serializedSize(r);
        a.broadcastBytes += sent0;
        a.resultBytes += returned;
        a.rollback.accept(a.state, round);
        a.state = averaged;
        long roundTokens = results.stream().mapToLong(TrainWorker.AdapterResult::tokens).sum();
        a.lastLoss = loss;
        a.examples += roundExamples;
        a.tokens += roundTokens;
        SparkJobs.progress("train", "%s round %d/%d: loss %.4f, %,.0f tokens/s, moved %s out + %s back (%.2f%% of the model)", a.id(), round + 1,
                a.spec.rounds(), a.lastLoss, roundTokens / seconds, mb(sent0), mb(returned),
                100.0 * Math.max(sent0, returned / shared.partitions()) / p.modelBytes());
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("round", round + 1);
        line.put("loss", a.lastLoss);
        line.put("examples", roundExamples);
        line.put("tokens", roundTokens);
        line.put("seconds", seconds);
        line.put("compute_seconds", compute);
        line.put("overhead_seconds", seconds - compute);
        line.put("examples_per_second", roundExamples / seconds);
        line.put("tokens_per_second", roundTokens / seconds);
        line.put("broadcast_bytes", sent0);
        line.put("result_bytes", returned);
        line.put("learning_rate_scale", a.rollback.learningRateScale());
        line.put("update_norm", Double.isFinite(updateNorm) ? updateNorm : null);
        a.metrics.add(line);
        writeMetrics(conf, a.dir, a.metrics);
        int every = a.spec.config().checkpointEvery();
        int trusted = a.rollback.trustedRound();
        if (every > 0 && trusted > 0 && trusted % every == 0) {
            Checkpoints.write(conf, a.dir, Checkpoints.roundName(trusted - 1), a.rollback.trusted(), info(a, trusted - 1, a.rollback.trusted()));
        }
        a.nextRound = round + 1;
    }

    /** A round that diverged is not applied: the adapter redoes from its {@link Rollback}'s trusted state, or fails with the reason. */
    private void reject(Adapter a, int round, String why) throws IOException {
        if (!a.rollback.reject(round)) {
            a.failure = why + "; gave up after " + a.spec.config().maxNanRetries() + " retries at lower learning rates. The last good checkpoint "
                    + "(if any) is kept in " + a.dir;
            SparkJobs.progress("train", "%s: FAILED: %s", a.id(), a.failure);
        } else {
            a.state = a.rollback.trusted();
            a.nextRound = a.rollback.trustedRound();
            a.metrics.subList(a.nextRound, a.metrics.size()).clear();
            writeMetrics(conf, a.dir, a.metrics);
            SparkJobs.progress("train", "%s: %s; update rejected, redoing from the start of round %d (the last state whose loss was accepted) at "
                    + "learning-rate scale %s", a.id(), why, a.nextRound + 1, a.rollback.learningRateScale());
        }
    }

    /**
     * A round's loss is measured before its updates, so the state the last round produced is judged on its own: its
     * loss on the evaluation split, by the same rule as the rounds'. A diverged final state fails the adapter instead
     * of being exported.
     */
    private String finalStateDiverged(Adapter a, Trainer.Evaluation evaluation) {
        if (evaluation.examples() == 0) return null;
        double loss = evaluation.lossSum() / evaluation.examples();
        String why = a.spec.config().divergence().check(loss, chanceLoss(a), Double.NaN, acceptedLosses(a), List.of());
        return why == null ? null : "the final state's evaluation " + why + "; not exported. The last good checkpoint (if any) is kept in " + a.dir;
    }

    /** The training losses of the adapter's accepted rounds, in order (its metrics lines are exactly those rounds). */
    private static List<Double> acceptedLosses(Adapter a) {
        return a.metrics.stream().map(m -> ((Number) m.get("loss")).doubleValue()).toList();
    }

    private double chanceLoss(Adapter a) {
        return Math.log(a.spec.causalLm() ? p.modelConfig().vocabSize() : a.spec.numLabels());
    }

    private Checkpoints.Info info(Adapter a, int round, TrainState state) {
        return new Checkpoints.Info(a.id(), round, a.spec.rounds(), state.steps(), a.rollback.learningRateScale(), a.fingerprint, p.modelHash(),
                a.spec.config());
    }

    /** Evaluates and exports the wave's trained adapters (one Spark job each for all of them). */
    private List<AdapterRun> finish(double seconds) throws IOException {
        Map<String, TrainState> states = new LinkedHashMap<>();
        for (Adapter a : adapters) if (a.failure == null) states.put(a.id(), a.state);
        Map<String, Trainer.Evaluation> evaluations = new LinkedHashMap<>();
        Map<String, Map<String, byte[]>> files = new LinkedHashMap<>();
        if (!states.isEmpty()) {
            evaluations.putAll(evaluate(states));
            Broadcast<Map<String, TrainState>> finalStates = sc.broadcast(states);
            List<TrainWorker.Spec> done = wave.adapters().stream().filter(s -> states.containsKey(s.adapter())).toList();
            files.putAll(sc.parallelize(done, Math.max(1, Math.min(done.size(), shared.partitions())))
                    .mapToPair(s -> new scala.Tuple2<>(s.adapter(), TrainWorker.adapterFiles(s, finalStates.value().get(s.adapter())))).collectAsMap());
            finalStates.destroy();
        }
        List<AdapterRun> runs = new ArrayList<>();
        for (Adapter a : adapters) {
            if (a.failure != null) {
                runs.add(new AdapterRun(a.id(), AdapterRun.Status.FAILED, a.failure, wave.index(), a.spec.config(), null, a.spec.rounds(), a.examples, a.tokens,
                        a.lastLoss, null, seconds, a.broadcastBytes, a.resultBytes, null, List.copyOf(a.metrics)));
                continue;
            }
            Trainer.Evaluation evaluation = evaluations.getOrDefault(a.id(), new Trainer.Evaluation(0, 0, 0));
            String diverged = finalStateDiverged(a, evaluation);
            if (diverged != null) {
                a.failure = diverged;
                SparkJobs.progress("train", "%s: FAILED: %s", a.id(), a.failure);
                runs.add(new AdapterRun(a.id(), AdapterRun.Status.FAILED, a.failure, wave.index(), a.spec.config(), null, a.spec.rounds(), a.examples,
                        a.tokens, a.lastLoss, evaluation, seconds, a.broadcastBytes, a.resultBytes, null, List.copyOf(a.metrics)));
                continue;
            }
            if (!a.metrics.isEmpty()) {
                RunReport.putEvaluation(a.metrics.get(a.metrics.size() - 1), evaluation, a.spec.causalLm());
                writeMetrics(conf, a.dir, a.metrics);
            }
            AdapterRun run = new AdapterRun(a.id(), AdapterRun.Status.DONE, null, wave.index(), a.spec.config(), a.state, a.spec.rounds(), a.examples,
                    a.tokens, a.lastLoss, evaluation, seconds, a.broadcastBytes, a.resultBytes, AdapterFolder.path(a.spec).toString(), List.copyOf(a.metrics));
            try {
                Checkpoints.write(conf, a.dir, Checkpoints.FINAL, a.state, info(a, a.spec.rounds() - 1, a.state));
                byte[] metrics = RunReport.metricsJson(run, p);
                OutputFolder.writeFile(a.dir.getFileSystem(conf), new Path(a.dir, PeftAdapter.METRICS), metrics);
                byte[] html = RunReport.adapterHtml(run, a.spec.causalLm());
                OutputFolder.writeFile(a.dir.getFileSystem(conf), new Path(a.dir, RunReport.HTML), html);
                Map<String, byte[]> folder = new LinkedHashMap<>(files.get(a.id()));
                folder.put(RunReport.HTML, html);
                AdapterFolder.writeTrained(a.spec, folder, p, metrics, conf, overwrite);
                runs.add(run);
                SparkJobs.progress("train", "%s done: %d rounds, final training loss %.4f; %s → %s", a.id(), a.spec.rounds(), a.lastLoss,
                        RunReport.describe(run, a.spec.causalLm()), run.path());
            } catch (IOException e) {
                runs.add(AdapterRun.failed(a.id(), wave.index(), a.spec.config(), "export: " + e.getMessage()));
                SparkJobs.progress("train", "%s: FAILED to export: %s", a.id(), e.getMessage());
            }
        }
        return runs;
    }

    private static void writeMetrics(Configuration conf, Path dir, List<Map<String, Object>> metrics) throws IOException {
        StringBuilder lines = new StringBuilder();
        for (Map<String, Object> m : metrics) lines.append(YamlConfig.jsonLine(m)).append('\n');
        FileSystem fs = dir.getFileSystem(conf);
        fs.mkdirs(dir);
        OutputFolder.writeFile(fs, new Path(dir, "metrics.jsonl"), lines.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> readMetrics(Configuration conf, Path dir, int rounds) throws IOException {
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

    static String eta(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600 ? String.format("%dh%02dm", s / 3600, s % 3600 / 60) : String.format("%dm%02ds", s / 60, s % 60);
    }
}
