package io.lorafleet.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lorafleet.datasets.YamlConfig;
import io.lorafleet.spark.RunReport;
import io.lorafleet.spark.TokenizeJob;
import org.apache.spark.sql.SparkSession;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.IntStream;

/**
 * {@code lorafleet bench many}: 10, 100 and 1,000 small adapters, each in one train job on the local standalone
 * cluster, to show how the per-adapter costs grow with the count: the driver's peak memory, the bytes each round
 * broadcasts, the wall time per adapter, and the size of summary.json and report.html. Each adapter trains on its own
 * slice of the full IMDB set (every 1,000th review), so adapter k has the same data in every run. This class deals
 * and tokenizes the data and writes the configs ({@code prepare}) and the comparison ({@code report}); the launcher
 * starts the cluster and submits the jobs, each timed by /usr/bin/time.
 */
public final class ManyAdaptersBenchmark {
    static final int[] COUNTS = {10, 100, 1000};
    static final int SLICES = 1000;
    static final int MAX_LENGTH = 64;

    public static void main(String[] args) throws Exception {
        Path root = Path.of(args[1]), work = Path.of(args[2]);
        switch (args[0]) {
            case "prepare" -> prepare(root, work);
            case "report" -> report(root, args[3], work);
            default -> throw new IllegalArgumentException("usage: ManyAdaptersBenchmark prepare|report ROOT WORK [COMMAND]");
        }
    }

    static String adapter(int k) {
        return String.format(Locale.ROOT, "t%04d", k);
    }

    /** The full IMDB set dealt round-robin to t0000…t0999 (~50 reviews each, all three splits), tokenized; one train config per count. */
    static void prepare(Path root, Path work) throws Exception {
        Files.createDirectories(work);
        Path dealt = work.resolve("tasks.jsonl");
        try (BufferedWriter out = Files.newBufferedWriter(dealt); BufferedReader in = Files.newBufferedReader(root.resolve("datasets/imdb/data/imdb.jsonl"))) {
            int i = 0;
            for (String line = in.readLine(); line != null; line = in.readLine()) {
                ObjectNode row = (ObjectNode) YamlConfig.json().readTree(line);
                row.put("task", adapter(i++ % SLICES));
                out.write(YamlConfig.jsonLine(row));
                out.write('\n');
            }
        }
        SparkSession spark = SparkSession.builder().master("local[2]").appName("lorafleet bench many").config("spark.ui.enabled", "false").getOrCreate();
        TokenizeJob.tokenize(spark, ImdbTokenizeConf.load(root, dealt, MAX_LENGTH, work.resolve("shards"),
                "tasks.0.adapter_id=null", "tasks.0.adapter_id_field=task"), true);
        spark.stop();
        for (int n : COUNTS) {
            Files.writeString(work.resolve("many-" + n + ".yaml"), """
                    # %d adapters, each r=4 on query and value, 2 rounds × 2 partitions × 1 local step × batch 8 on its ~40 training reviews
                    model: %s
                    shards: %s
                    output: %s
                    adapters: [%s]
                    lora: {r: 4, alpha: 8, dropout: 0.1, target_modules: [query, value]}
                    optimizer: {kind: adamw, learning_rate: 0.003}
                    batch_size: 8
                    partitions: 2
                    local_steps: 1
                    rounds: 2
                    checkpoint_every: 0
                    """.formatted(n, ImdbTokenizeConf.tokenizer(root), work.resolve("shards"), work.resolve("n" + n),
                    String.join(", ", IntStream.range(0, n).mapToObj(ManyAdaptersBenchmark::adapter).toList())));
        }
    }

    /** Reads each run's summary, report, metrics and time file (wall seconds, max RSS KiB) and writes the BENCHMARKS.md section. */
    static void report(Path root, String command, Path work) throws Exception {
        StringBuilder s = new StringBuilder("## Many adapters: 10, 100 and 1,000 in one train job\n\n");
        s.append(BenchmarkReport.machine()).append(".\n\nCommand: `").append(command).append("`. ").append(String.format(Locale.ROOT, """
                The full IMDB set dealt round-robin into %,d slices (~40 training and ~5 validation reviews each, %d tokens), one \
                adapter per slice: all-MiniLM-L6-v2, LoRA r=4 on query and value, 2 rounds × 2 partitions × 1 local step × batch 8, \
                default waves (8 adapters, waves.memory_mb 1024), evaluation on the validation split and export of every adapter. \
                Each job is submitted by `lorafleet submit train` to the local standalone cluster (Master + 2 Workers of 1 core, one \
                executor each, 2 GB) and timed by /usr/bin/time; the driver runs in the submitting JVM (client mode), so its peak RSS \
                is the driver's.

                | adapters | done | wall s | s per adapter | driver peak RSS MB | bytes out per adapter and round (median) | bytes back per adapter and round, all tasks (median) | summary.json KB | report.html KB |
                |---|---|---|---|---|---|---|---|---|
                """, SLICES, MAX_LENGTH));
        List<double[]> rows = new ArrayList<>();
        for (int n : COUNTS) {
            Path out = work.resolve("n" + n);
            if (!Files.exists(out.resolve(RunReport.SUMMARY))) {
                s.append(String.format(Locale.ROOT, "| %,d | the job failed: no %s (its output is in the launcher's log) | | | | | | | |%n", n, RunReport.SUMMARY));
                continue;
            }
            JsonNode run = YamlConfig.json().readTree(out.resolve(RunReport.SUMMARY).toFile()).get("run");
            String[] time = Files.readString(work.resolve("time-" + n + ".txt")).trim().split("\\s+");
            List<Double> sent = new ArrayList<>(), back = new ArrayList<>();
            for (int k = 0; k < n; k++) {
                Path metrics = out.resolve("_checkpoints").resolve(adapter(k)).resolve("metrics.jsonl");
                if (!Files.exists(metrics)) continue; // a failed adapter (summary.json says why)
                for (String line : Files.readAllLines(metrics)) {
                    if (line.isBlank()) continue;
                    JsonNode round = YamlConfig.json().readTree(line);
                    sent.add(round.get("broadcast_bytes").asDouble());
                    back.add(round.get("result_bytes").asDouble());
                }
            }
            double wall = Double.parseDouble(time[0]);
            s.append(String.format(Locale.ROOT, "| %,d | %d | %.0f | %.2f | %,d | %,.0f | %,.0f | %,.0f | %,.0f |%n", n, run.get("done").asInt(), wall, wall / n,
                    Long.parseLong(time[1]) / 1024, median(sent), median(back), Files.size(out.resolve(RunReport.SUMMARY)) / 1024.0,
                    Files.size(out.resolve(RunReport.HTML)) / 1024.0));
            rows.add(new double[] {n, wall, Long.parseLong(time[1]) / 1024.0});
        }
        if (rows.size() < 2) throw new IllegalStateException("fewer than two counts trained; see the table:\n" + s);
        double[] first = rows.get(0), before = rows.get(rows.size() - 2), last = rows.get(rows.size() - 1);
        s.append(String.format(Locale.ROOT, "%nWall time per adapter at %,d adapters / at %,d: %.2f× (below 1: the fixed costs — JVM, Spark, model "
                + "load — spread over more adapters). An adapter's bytes per round are its A, B, head and Adam moments, whatever the count; "
                + "the driver's peak memory grows by %.2f MB per adapter from %,d to %,d adapters (plans, states, results, report).%n",
                (int) last[0], (int) first[0], (last[1] / last[0]) / (first[1] / first[0]), (last[2] - before[2]) / (last[0] - before[0]),
                (int) before[0], (int) last[0]));
        System.out.print(s);
        BenchmarkReport.writeSection(root.resolve("BENCHMARKS.md"), "many", s.toString());
    }

    private static double median(List<Double> values) {
        if (values.isEmpty()) return Double.NaN;
        List<Double> sorted = values.stream().sorted().toList();
        return sorted.get(sorted.size() / 2);
    }
}
