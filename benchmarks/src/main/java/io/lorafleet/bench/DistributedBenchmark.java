package io.lorafleet.bench;

import com.fasterxml.jackson.databind.JsonNode;
import io.lorafleet.datasets.YamlConfig;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * {@code lorafleet bench distributed}: the train job on a real standalone cluster (Master + 2 Workers of 1 core
 * on 127.0.0.1, started by the launcher) with 1 executor and with 2, same data and settings per task. Reads
 * each run's metrics.jsonl — per round: wall seconds, the slowest task's seconds in training steps, bytes
 * broadcast and returned — and writes the comparison with the whole parameter vector's size.
 * Usage: DistributedBenchmark REPO_ROOT WORK_DIR COMMAND_LINE
 */
public final class DistributedBenchmark {
    public static void main(String[] args) throws Exception {
        Path root = Path.of(args[0]), work = Path.of(args[1]);
        StringBuilder s = new StringBuilder("## Distributed: bytes per averaging round and round overhead, 1 vs 2 executors\n\n");
        s.append(BenchmarkReport.machine()).append(String.format(Locale.ROOT, ".%n%nCommand: `%s`. A Spark standalone cluster from the project's "
                + "jars on this machine (Master + 2 Workers, 1 core each), the shaded jar submitted by `lorafleet submit train`: the IMDB sample at "
                + "128 tokens, all-MiniLM-L6-v2, LoRA r=8 on query and value, batch 16, 2 local steps per round, one executor per worker. Round 1 "
                + "(model load) is left out; medians over the rest of the first half of the rounds and over the second half, apart. Compute = the slowest task's seconds inside training "
                + "steps; overhead = the rest of the round (task launch, broadcast, result transfer, driver averaging, metrics).%n%n", args[2]));
        s.append("| executors | rounds | round s | compute s | overhead s | examples/s | bytes out / round | bytes back / round (all tasks) "
                + "| moved per task / whole parameter vector |\n|---|---|---|---|---|---|---|---|---|\n");
        double[][] throughput = new double[2][2]; // [executors − 1][early, steady]
        String[] spans = new String[2];
        for (int w = 1; w <= 2; w++) {
            Path dir = work.resolve("w" + w);
            JsonNode metrics = YamlConfig.json().readTree(dir.resolve("imdb/metrics.json").toFile());
            long vectorBytes = 4L * metrics.get("total_params").asLong();
            List<JsonNode> rounds = new ArrayList<>();
            for (String line : Files.readAllLines(dir.resolve("_checkpoints/imdb/metrics.jsonl"))) if (!line.isBlank()) rounds.add(YamlConfig.json().readTree(line));
            int half = rounds.size() / 2;
            List<List<JsonNode>> parts = List.of(rounds.subList(1, half), rounds.subList(half, rounds.size()));
            for (int k = 0; k < 2; k++) {
                List<JsonNode> timed = parts.get(k);
                double round = median(timed, "seconds"), compute = median(timed, "compute_seconds"), overhead = median(timed, "overhead_seconds");
                double out = median(timed, "broadcast_bytes"), back = median(timed, "result_bytes");
                throughput[w - 1][k] = median(timed, "examples") / round;
                spans[k] = (k == 0 ? 2 : half + 1) + "–" + (k == 0 ? half : rounds.size());
                s.append(String.format(Locale.ROOT, "| %d | %s | %.2f | %.2f | %.2f | %.1f | %,.0f | %,.0f | %.2f%% |%n", w, spans[k], round, compute,
                        overhead, throughput[w - 1][k], out, back, 100.0 * Math.max(out, back / w) / vectorBytes));
            }
        }
        s.append(String.format(Locale.ROOT, "%nThe whole parameter vector (frozen base + adapter + head) is what full data-parallel training would move "
                + "each round; LoRA moves A, B, the head and Adam's two moments only. Examples/s with 2 executors / 1: %.2f× over rounds %s "
                + "(%.2f× over rounds %s, while the JVMs still compile: a lone executor's JIT and the driver's run on the idle core, two "
                + "executors' take the cores they compute on).%n", throughput[1][1] / throughput[0][1], spans[1], throughput[1][0] / throughput[0][0], spans[0]));
        System.out.print(s);
        BenchmarkReport.writeSection(root.resolve("BENCHMARKS.md"), "distributed", s.toString());
    }

    private static double median(List<JsonNode> rounds, String key) {
        double[] v = rounds.stream().mapToDouble(r -> r.get(key).asDouble()).sorted().toArray();
        return v.length == 0 ? Double.NaN : v[v.length / 2];
    }
}
