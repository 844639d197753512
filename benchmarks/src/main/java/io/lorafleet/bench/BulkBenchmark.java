package io.lorafleet.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lorafleet.datasets.DatasetSpec;
import io.lorafleet.datasets.YamlConfig;
import io.lorafleet.spark.RunReport;
import io.lorafleet.spark.TokenizeJob;
import org.apache.spark.sql.SparkSession;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * {@code lorafleet bench bulk}: N adapters trained in one job (one wave over one frozen base) against the
 * same N adapters trained by N jobs one after another, on the same data and settings. The launcher runs
 * each job as its own process (JVM start, Spark session, model load and all) and times it with
 * /usr/bin/time; this class prepares the data ({@code prepare}) and writes the comparison ({@code report}).
 */
public final class BulkBenchmark {
    static final int ADAPTERS = 8;

    public static void main(String[] args) throws Exception {
        Path root = Path.of(args[1]), work = Path.of(args[2]);
        switch (args[0]) {
            case "prepare" -> prepare(root, work);
            case "report" -> report(root, args[3], work);
            default -> throw new IllegalArgumentException("usage: BulkBenchmark prepare|report ROOT WORK [COMMAND]");
        }
    }

    /** The real IMDB sample dealt round-robin to tasks t0…t7 (125 reviews each), tokenized; and the train config for all of them. */
    static void prepare(Path root, Path work) throws Exception {
        Files.createDirectories(work);
        dealIntoTasks(root.resolve("datasets/imdb/sample/imdb-sample.jsonl"), work.resolve("tasks.jsonl"));
        Path model = root.resolve("runs/models/all-minilm-l6-v2");
        DatasetSpec spec = ImdbTokenizeConf.load(root, work.resolve("tasks.jsonl"), 128, work.resolve("shards"),
                "tasks.0.adapter_id=null", "tasks.0.adapter_id_field=task");
        SparkSession spark = SparkSession.builder().master("local[2]").appName("lorafleet bench bulk").config("spark.ui.enabled", "false").getOrCreate();
        TokenizeJob.tokenize(spark, spec, true);
        spark.stop();
        Files.writeString(work.resolve("train.yaml"), """
                # %d adapters, each 6 rounds × 2 partitions × 2 local steps × batch 8 (~1.3 epochs of its 75 training reviews)
                model: %s
                shards: %s
                output: %s
                adapters: [%s]
                lora: {r: 8, alpha: 16, dropout: 0.1, target_modules: [query, value]}
                optimizer: {kind: adamw, learning_rate: 0.002, warmup_steps: 2}
                batch_size: 8
                partitions: 2
                local_steps: 2
                rounds: 6
                waves: {max_adapters: %d}
                """.formatted(ADAPTERS, model, work.resolve("shards"), work.resolve("bulk"),
                String.join(", ", java.util.stream.IntStream.range(0, ADAPTERS).mapToObj(k -> "t" + k).toList()), ADAPTERS));
    }

    /** Copies a JSONL file, adding to each row a "task" field t0, t1, … dealt round-robin. */
    private static void dealIntoTasks(Path jsonl, Path out) throws java.io.IOException {
        StringBuilder dealt = new StringBuilder();
        int i = 0;
        for (String line : Files.readAllLines(jsonl)) {
            ObjectNode row = (ObjectNode) YamlConfig.json().readTree(line);
            row.put("task", "t" + i++ % ADAPTERS);
            dealt.append(YamlConfig.jsonLine(row)).append('\n');
        }
        Files.writeString(out, dealt);
    }

    /** Reads the runs' summaries and the time files (wall seconds, max RSS KiB) and writes the BENCHMARKS.md section. */
    static void report(Path root, String command, Path work) throws Exception {
        Run bulk = run(work.resolve("bulk"), work.resolve("time-bulk.txt"));
        double seqSeconds = 0, seqTrainSeconds = 0;
        long seqTokens = 0, seqRss = 0;
        for (int k = 0; k < ADAPTERS; k++) {
            Run r = run(work.resolve("seq-t" + k), work.resolve("time-seq-t" + k + ".txt"));
            seqSeconds += r.seconds();
            seqTrainSeconds += r.trainSeconds();
            seqTokens += r.tokens();
            seqRss = Math.max(seqRss, r.rssMb());
        }
        StringBuilder s = new StringBuilder("## Bulk: " + ADAPTERS + " adapters in one job vs " + ADAPTERS + " jobs one after another\n\n");
        s.append(BenchmarkReport.machine()).append(".\n\nCommand: `").append(command).append("`. ").append(String.format(Locale.ROOT,
                "The real IMDB sample dealt to %d tasks (125 reviews each, 128 tokens), all-MiniLM-L6-v2, LoRA r=8 on query and value, "
                        + "each adapter 6 rounds × 2 partitions × 2 local steps × batch 8, local[*] Spark on this machine. Every job is its own "
                        + "process started by the launcher and timed by /usr/bin/time from start to exit (JVM, Spark session, model load, "
                        + "training, evaluation, export); the in-job time is the train job's own wall clock. The one job runs its %d adapters "
                        + "as one wave with the default step budget (waves.memory_mb 1024: each step's forward and backward in groups of "
                        + "adapters that fit it).\n\n", ADAPTERS, ADAPTERS));
        s.append("| what | processes | tokens trained | wall s (process) | tokens/s (process) | wall s (in job) | peak RSS MB |\n|---|---|---|---|---|---|---|\n");
        s.append(String.format(Locale.ROOT, "| %d jobs one after another (reference) | %d | %,d | %.1f | %,.0f | %.1f | %,d |%n", ADAPTERS, ADAPTERS, seqTokens,
                seqSeconds, seqTokens / seqSeconds, seqTrainSeconds, seqRss));
        s.append(String.format(Locale.ROOT, "| one job, %d adapters in one wave | 1 | %,d | %.1f | %,.0f | %.1f | %,d |%n", ADAPTERS, bulk.tokens(),
                bulk.seconds(), bulk.tokens() / bulk.seconds(), bulk.trainSeconds(), bulk.rssMb()));
        s.append(String.format(Locale.ROOT, "%nThroughput, one job / sequential jobs: **%.2f×** end to end (target ≥ 1.5×), %.2f× inside the jobs; "
                        + "peak RSS, one job / the largest sequential job: **%.2f×** (target ≤ 2×).%n",
                (bulk.tokens() / bulk.seconds()) / (seqTokens / seqSeconds), (bulk.tokens() / bulk.trainSeconds()) / (seqTokens / seqTrainSeconds),
                (double) bulk.rssMb() / seqRss));
        System.out.print(s);
        BenchmarkReport.writeSection(root.resolve("BENCHMARKS.md"), "bulk", s.toString());
    }

    private record Run(double seconds, double trainSeconds, long tokens, long rssMb) { }

    private static Run run(Path output, Path timeFile) throws Exception {
        JsonNode summary = YamlConfig.json().readTree(output.resolve(RunReport.SUMMARY).toFile()).get("run");
        if (summary.get("done").asInt() != summary.get("adapters").asInt()) throw new IllegalStateException(output + ": not every adapter trained");
        String[] time = Files.readString(timeFile).trim().split("\\s+");
        return new Run(Double.parseDouble(time[0]), summary.get("wall_seconds").asDouble(), summary.get("tokens").asLong(), Long.parseLong(time[1]) / 1024);
    }
}
