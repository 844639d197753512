package io.lorafleet.spark;

import io.lorafleet.io.PeftAdapter;
import io.lorafleet.train.TrainState;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code lorafleet train --config train.yaml}: data-parallel LoRA over Spark, for one adapter or hundreds.
 * Adapters train in waves over one frozen base: each round the driver broadcasts the trainable state of
 * every adapter of the wave (A, B, head, optimizer state — never a frozen weight), each of W tasks runs K
 * local steps with all of them in each fused batch, and the driver averages each adapter's states,
 * weighted by that adapter's examples, in partition order (so a re-run, a retried task or a resumed run gives
 * the same bits). Adapters finish independently; one that fails (no data, a bad override, NaN after
 * retries at lower learning rates) is reported in the run summary and does not stop the others.
 */
public final class TrainJob {
    static final String USAGE = "lorafleet train --config FILE [--set key=value ...] [--overwrite | --resume] [--take-over] [--dry-run]";

    public static void main(String[] args) {
        SparkJobs.configMain(USAGE, args, TrainConfig::load, (config, parsed) -> writes(config, config.output(), true),
                (spark, config, parsed) -> AdapterRun.exitCode(train(spark, config, parsed.overwrite(), parsed.resume())));
    }

    /**
     * Where a run writes, for its leases: each named adapter's folder and checkpoints (so that runs of other adapters
     * into the same output proceed side by side), or the whole output when the run trains every adapter of the
     * shards; and the report, which each parallel run needs a folder of its own for.
     */
    static List<String> writes(TrainConfig c, String output, boolean training) {
        List<String> out = new ArrayList<>();
        if (training) out.add(c.report());
        if (c.adapters().isEmpty()) {
            out.add(output);
            if (training) out.add(c.checkpoints());
        }
        for (TrainConfig.AdapterEntry a : c.adapters()) {
            out.add(output.replaceAll("/+$", "") + "/" + a.id());
            if (training) out.add(c.checkpoints().replaceAll("/+$", "") + "/" + a.id());
        }
        return out;
    }

    public static List<AdapterRun> train(SparkSession spark, TrainConfig given, boolean overwrite, boolean resume) throws IOException {
        long started = System.nanoTime();
        Configuration conf = spark.sparkContext().hadoopConfiguration();
        TrainConfig config = given.qualified(conf);
        TrainPlan.Prepared prepared = TrainPlan.prepare(config, conf);
        List<AdapterRun> runs = new ArrayList<>();
        List<TrainWorker.Spec> trainable = new ArrayList<>();
        for (TrainPlan.Planned planned : TrainPlan.plan(config, prepared, conf)) {
            if (planned.failure() != null) {
                SparkJobs.progress("train", "%s: FAILED before training: %s", planned.adapter(), planned.failure());
                runs.add(AdapterRun.failed(planned.adapter(), -1, config, planned.failure()));
            } else if (exported(planned.spec(), conf, overwrite, resume)) {
                Path path = AdapterFolder.path(planned.spec());
                SparkJobs.progress("train", "%s: already exported to %s (--resume keeps it)", planned.adapter(), path);
                runs.add(AdapterRun.existing(planned.adapter(), planned.spec().config(), planned.spec().rounds(), path.toString()));
            } else {
                trainable.add(planned.spec());
            }
        }
        List<TrainWorker.Wave> waves = trainable.isEmpty() ? List.of() : TrainPlan.waves(trainable, config, prepared);
        TrainPlan.MemoryEstimate memory = waves.isEmpty() ? null
                : TrainPlan.memory(waves, config, prepared, concurrentTasks(spark.sparkContext().getConf(), config.partitions()));
        if (memory != null) SparkJobs.progress("train", "%s", memory.describe());
        for (TrainWorker.Spec s : trainable) checkpointsUsable(s, conf, overwrite, resume);
        long wavesStarted = System.nanoTime();
        for (TrainWorker.Wave wave : waves) {
            runs.addAll(new WaveDriver(spark, prepared, wave, waves.size(), overwrite, resume).run());
            int done = wave.index() + 1;
            double perWave = (System.nanoTime() - wavesStarted) / 1e9 / done;
            SparkJobs.progress("train", "run: %d/%d waves; adapters %d done, %d failed, %d queued; ETA %s", done, waves.size(),
                    runs.stream().filter(r -> r.status() == AdapterRun.Status.DONE).count(), runs.stream().filter(r -> r.status() == AdapterRun.Status.FAILED).count(),
                    waves.stream().skip(done).mapToInt(w -> w.adapters().size()).sum(), WaveDriver.eta(perWave * (waves.size() - done)));
        }
        runs.sort(Comparator.comparingInt(r -> config.adapterIds(prepared.manifest().adapters().keySet()).indexOf(r.adapter())));
        RunReport.write(config, prepared, runs, (System.nanoTime() - started) / 1e9, memory, conf);
        long failed = runs.stream().filter(r -> r.status() == AdapterRun.Status.FAILED).count();
        SparkJobs.progress("train", "run done: %d adapter(s) trained, %d failed, %d already exported; summary in %s", runs.stream()
                .filter(r -> r.status() == AdapterRun.Status.DONE).count(), failed, runs.stream().filter(r -> r.status() == AdapterRun.Status.EXISTING).count(),
                new Path(config.report(), RunReport.SUMMARY));
        return runs;
    }

    /**
     * How many tasks one executor runs at once: its cores over spark.task.cpus. The cores are local[N]'s threads in local
     * mode, else {@code spark.executor.cores}; where neither says (a standalone executor takes its worker's cores), every
     * partition is assumed to run on one executor: an upper bound.
     */
    static int concurrentTasks(org.apache.spark.SparkConf conf, int partitions) {
        java.util.regex.Matcher local = java.util.regex.Pattern.compile("local(?:\\[(\\*|\\d+)(?:,\\d+)?])?").matcher(conf.get("spark.master", ""));
        int cores;
        if (local.matches()) cores = local.group(1) == null ? 1 : local.group(1).equals("*") ? Runtime.getRuntime().availableProcessors() : Integer.parseInt(local.group(1));
        else if (conf.contains("spark.executor.cores")) cores = conf.getInt("spark.executor.cores", 1);
        else return partitions;
        return Math.max(1, cores / conf.getInt("spark.task.cpus", 1));
    }

    /** True when the adapter was exported by an earlier run and --resume keeps it; refuses to replace it without --overwrite. */
    private static boolean exported(TrainWorker.Spec spec, Configuration conf, boolean overwrite, boolean resume) throws IOException {
        Path out = AdapterFolder.path(spec);
        if (!out.getFileSystem(conf).exists(out) || overwrite) return false;
        if (resume && out.getFileSystem(conf).exists(new Path(out, PeftAdapter.COMPLETE))) return true;
        throw new IOException(out + ": an adapter exists (pass --overwrite to replace it)");
    }

    private static void checkpointsUsable(TrainWorker.Spec spec, Configuration conf, boolean overwrite, boolean resume) throws IOException {
        Path dir = new Path(spec.config().checkpoints(), spec.adapter());
        if (dir.getFileSystem(conf).exists(dir) && !resume && !overwrite) {
            throw new IOException(dir + ": checkpoints exist (pass --resume to continue, or --overwrite to start over)");
        }
    }


    /**
     * {@code lorafleet export --config train.yaml [--to URI]}: writes each adapter's PEFT folder again from its final
     * checkpoint, into the run's output or into {@code to} (e.g. s3a://bucket/adapters). The checkpoint defines the
     * adapter: the folder carries the settings it recorded, and a config that describes another adapter (other
     * settings, model or data) is refused, naming what differs.
     */
    public static List<Path> export(SparkSession spark, TrainConfig given, String to, boolean overwrite) throws IOException {
        Configuration conf = spark.sparkContext().hadoopConfiguration();
        TrainConfig c = given.qualified(conf);
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        TrainPlan.Prepared p = TrainPlan.prepare(c, conf);
        List<TrainWorker.Spec> specs = new ArrayList<>();
        for (TrainPlan.Planned planned : TrainPlan.plan(c, p, conf)) {
            if (planned.failure() != null) throw new IllegalArgumentException(planned.adapter() + ": " + planned.failure());
            specs.add(planned.spec());
        }
        List<Path> written = new ArrayList<>();
        for (TrainWorker.Spec planned : specs) {
            Path dir = new Path(planned.config().checkpoints(), planned.adapter());
            Path last = new Path(dir, Checkpoints.FINAL);
            if (!last.getFileSystem(conf).exists(last)) {
                throw new IOException(last + ": no final checkpoint of " + planned.adapter() + " (export reads the run's checkpoints, `checkpoints:`, "
                        + "by default <output>/_checkpoints: keep the run's output in the config and write elsewhere with --to URI)");
            }
            Checkpoints.Loaded checkpoint = Checkpoints.read(conf, last);
            TrainWorker.Spec spec = trainedSpec(planned, checkpoint, last, p, to == null ? planned.config().output() : to, conf);
            TrainState state = checkpoint.state();
            Map<String, byte[]> files = new LinkedHashMap<>(sc.parallelize(List.of(spec), 1).map(s -> TrainWorker.adapterFiles(s, state)).collect().get(0));
            Path report = new Path(dir, RunReport.HTML);
            if (report.getFileSystem(conf).exists(report)) files.put(RunReport.HTML, SparkJobs.readFile(report.toString(), conf));
            written.add(AdapterFolder.writeTrained(spec, files, p, SparkJobs.readFile(new Path(dir, PeftAdapter.METRICS).toString(), conf), conf, overwrite));
            SparkJobs.progress("export", "%s → %s", spec.adapter(), written.get(written.size() - 1));
        }
        return written;
    }

    /** The adapter as its checkpoint recorded it, written to {@code output}; refuses a plan that describes another adapter. */
    private static TrainWorker.Spec trainedSpec(TrainWorker.Spec planned, Checkpoints.Loaded loaded, Path checkpoint, TrainPlan.Prepared p, String output,
                                                Configuration conf) throws IOException {
        Checkpoints.Info info = loaded.info();
        if (info.config() == null) {
            throw new IOException(checkpoint + ": records no training settings (written by an older LoRAFleet); train the adapter again to export it");
        }
        List<String> differences = planned.config().differencesFrom(info.config());
        if (!differences.isEmpty()) {
            throw new IllegalArgumentException(planned.adapter() + ": the config disagrees with " + checkpoint + ", which defines the adapter: "
                    + String.join("; ", differences) + " (export with the settings it was trained with)");
        }
        if (!info.modelSha256().equals(p.modelHash())) {
            throw new IOException(checkpoint + " was trained on base SHA-256 " + info.modelSha256() + ", but " + planned.config().model() + " is " + p.modelHash());
        }
        TrainWorker.Spec spec = new TrainWorker.Spec(info.config().withOutput(output).qualified(conf), planned.modelHash(), planned.manifest(),
                planned.adapter(), planned.numLabels(), planned.rounds(), planned.hadoop());
        if (!TrainPlan.madeBy(loaded, spec, p)) {
            throw new IOException(checkpoint + " was trained on other data than " + planned.config().shards() + " holds for " + planned.adapter()
                    + " (its shard files' SHA-256s differ)");
        }
        return spec;
    }
}
