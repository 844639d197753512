package io.lorafleet.bench;

import com.fasterxml.jackson.databind.JsonNode;
import io.lorafleet.datasets.YamlConfig;
import io.lorafleet.spark.RunReport;
import io.lorafleet.spark.TokenizeJob;
import org.apache.spark.sql.SparkSession;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * {@code lorafleet bench memory}: the train job's peak RSS against the planner's estimate of it (summary.json
 * {@code memory_estimate_mb}), on the real IMDB sample at several max_lengths. The launcher runs each job as its own
 * process timed by /usr/bin/time; this class tokenizes the sample ({@code prepare}) and writes the comparison
 * ({@code report}).
 */
public final class MemoryBenchmark {
    /** Each run: its name, the max_length of its shards, and its overrides of conf/imdb-train.yaml (the launcher passes them too). */
    record Job(String name, int maxLength, String overrides) { }

    static final List<Job> JOBS = List.of(
            new Job("len128", 128, ""),
            new Job("len256", 256, ""),
            new Job("len512", 512, ""),
            new Job("len512-whole", 512, "waves.memory_mb=4096"),
            new Job("batch1", 128, "batch_size=1"),
            new Job("len128-int8", 128, "model=runs/models/all-minilm-l6-v2-int8"));

    public static void main(String[] args) throws Exception {
        Path root = Path.of(args[1]), work = Path.of(args[2]);
        switch (args[0]) {
            case "prepare" -> prepare(root, work);
            case "jobs" -> JOBS.forEach(j -> System.out.println(j.name() + " " + j.maxLength() + " " + j.overrides()));
            case "report" -> report(root, args[3], work);
            default -> throw new IllegalArgumentException("usage: MemoryBenchmark prepare|jobs|report ROOT WORK [COMMAND]");
        }
    }

    /** The demo's IMDB sample tokenized at each max_length the jobs use, into WORK/shards-LENGTH. */
    static void prepare(Path root, Path work) throws Exception {
        Files.createDirectories(work);
        SparkSession spark = SparkSession.builder().master("local[2]").appName("lorafleet bench memory").config("spark.ui.enabled", "false").getOrCreate();
        for (int length : JOBS.stream().mapToInt(Job::maxLength).distinct().toArray()) {
            TokenizeJob.tokenize(spark, ImdbTokenizeConf.load(root, root.resolve("datasets/imdb/sample/imdb-sample.jsonl"), length,
                    work.resolve("shards-" + length)), true);
        }
        spark.stop();
    }

    /** Reads each run's summary (the estimate) and time file (wall seconds, max RSS KiB) and writes the BENCHMARKS.md section. */
    static void report(Path root, String command, Path work) throws Exception {
        StringBuilder s = new StringBuilder("## Memory: a train job's peak RSS against the planner's estimate\n\n");
        s.append(BenchmarkReport.machine()).append(".\n\nCommand: `").append(command).append("`. ").append("""
                The demo's train config (conf/imdb-train.yaml: all-MiniLM-L6-v2, LoRA r=8 on query and value, batch 16, 2 partitions \
                in local[*] Spark) for 4 rounds on the real IMDB sample tokenized at each max_length, default step budget \
                (waves.memory_mb 1024) unless the row says otherwise; each job its own process, timed by /usr/bin/time from start \
                to exit (JVM, Spark, model load, training, evaluation, export). The estimate is what the planner prints before \
                training and writes to summary.json: JVM, Spark and native libraries + the frozen weights + concurrent tasks × \
                each task's step activations (a batch over the budget runs in micro-batches within it).

                | job | max_length | overrides | estimate MB | peak RSS MB | peak / estimate | wall s | tokens/s |
                |---|---|---|---|---|---|---|---|
                """);
        double worst = 0;
        java.util.Map<String, Long> peaks = new java.util.HashMap<>();
        for (Job job : JOBS) {
            JsonNode run = YamlConfig.json().readTree(work.resolve(job.name()).resolve(RunReport.SUMMARY).toFile()).get("run");
            if (run.get("done").asInt() != run.get("adapters").asInt()) throw new IllegalStateException(job.name() + ": not every adapter trained");
            String[] time = Files.readString(work.resolve("time-" + job.name() + ".txt")).trim().split("\\s+");
            long estimate = run.get("memory_estimate_mb").asLong(), peak = Long.parseLong(time[1]) / 1024;
            double ratio = (double) peak / estimate;
            peaks.put(job.name(), peak);
            if (job.overrides().isEmpty()) worst = Math.max(worst, Math.abs(ratio - 1));
            s.append(String.format(Locale.ROOT, "| %s | %d | %s | %,d | %,d | %.2f | %.1f | %,.0f |%n", job.name(), job.maxLength(),
                    job.overrides().isEmpty() ? "" : "`" + job.overrides() + "`", estimate, peak, ratio, Double.parseDouble(time[0]),
                    run.get("tokens_per_second").asDouble()));
        }
        s.append(String.format(Locale.ROOT, "%nAt the default budget the peak is within **%.0f%%** of the estimate (aim: within 20%%). The int8 "
                + "base (MiniLM's int8 export, int8 projections, float embeddings) peaks at %,d MB against the float base's %,d at 128 tokens.%n",
                100 * worst, peaks.get("len128-int8"), peaks.get("len128")));
        System.out.print(s);
        BenchmarkReport.writeSection(root.resolve("BENCHMARKS.md"), "memory", s.toString());
    }
}
