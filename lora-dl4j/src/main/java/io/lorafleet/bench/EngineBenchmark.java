package io.lorafleet.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Writes the engine benchmark's report: reads the JSON lines that {@link EngineStep} and the PyTorch
 * reference (deploy/bench/torch_engine.py) printed — one process per workload, launched by
 * {@code deploy/bin/lorafleet bench engine} so that OMP_NUM_THREADS takes effect — pairs them, prints a
 * table and writes it, with the command and the machine, into BENCHMARKS.md.
 *
 * <p>Usage: EngineBenchmark REPO_ROOT COMMAND_LINE RESULTS_JSONL WARMUP_STEPS TIMED_STEPS
 */
public final class EngineBenchmark {
    private static final ObjectMapper JSON = new ObjectMapper();

    public static void main(String[] args) throws Exception {
        if (args.length != 5) {
            System.err.println("usage: EngineBenchmark REPO_ROOT COMMAND_LINE RESULTS_JSONL WARMUP_STEPS TIMED_STEPS");
            System.exit(2);
        }
        Path root = Path.of(args[0]);
        String command = args[1];
        int warmup = Integer.parseInt(args[3]), steps = Integer.parseInt(args[4]);
        Map<String, JsonNode> ours = new LinkedHashMap<>(), reference = new LinkedHashMap<>();
        for (String line : Files.readAllLines(Path.of(args[2]))) {
            if (!line.startsWith("{")) continue;
            JsonNode r = JSON.readTree(line);
            String key = r.get("shape").asText() + "|" + r.get("mode").asText() + "|" + r.get("threads").asText();
            (r.get("engine").asText().equals("lorafleet") ? ours : reference).put(key, r);
        }
        boolean torch = !reference.isEmpty();
        List<String[]> rows = new ArrayList<>();
        for (Map.Entry<String, JsonNode> e : ours.entrySet()) {
            JsonNode o = e.getValue(), ref = reference.get(e.getKey());
            EngineShape shape = EngineShape.named(o.get("shape").asText());
            int threads = o.get("threads").asInt();
            double floorMs = shape.flopsPerStep(o.get("mode").asText().equals("full")) / GEMM_GFLOPS_PER_THREAD / 1e6 / threads;
            String[] row = {
                    o.get("shape").asText(), o.get("mode").asText(), String.valueOf(threads),
                    fmt(o.get("ms_per_step").asDouble()), fmt(o.get("tokens_per_s").asDouble()),
                    ref == null ? "n/a" : fmt(ref.get("ms_per_step").asDouble()),
                    ref == null ? "n/a" : fmt(ref.get("tokens_per_s").asDouble()),
                    ref == null ? "n/a" : String.format(Locale.ROOT, "%.2f×", ref.get("ms_per_step").asDouble() / o.get("ms_per_step").asDouble()),
                    String.format(Locale.ROOT, "%.0f%%", 100 * floorMs / o.get("ms_per_step").asDouble()),
                    percent(o.get("gemm_share")), ref == null ? "n/a" : percent(ref.get("gemm_share")),
                    o.get("peak_rss_mb").asText(), ref == null ? "n/a" : ref.get("peak_rss_mb").asText(),
                    String.format(Locale.ROOT, "%,d", o.get("trainable_params").asLong()),
                    String.format(Locale.ROOT, "%.2f", o.get("optimizer_state_bytes").asLong() / 1e6)};
            rows.add(row);
            System.out.println(String.join(" | ", row));
        }
        writeReport(root.resolve("BENCHMARKS.md"), command, warmup, steps, rows, torch);
    }

    /** fp32 gemm throughput of one thread on this kind of machine (ND4J/OpenBLAS SkylakeX kernel, measured). */
    static final double GEMM_GFLOPS_PER_THREAD = 104;

    private static String percent(JsonNode share) {
        return share == null ? "n/a" : String.format(Locale.ROOT, "%.0f%%", 100 * share.asDouble());
    }

    private static String fmt(double v) {
        return String.format(Locale.ROOT, "%.0f", v);
    }

    private static void writeReport(Path file, String command, int warmup, int steps, List<String[]> rows, boolean torch) throws IOException {
        StringBuilder s = new StringBuilder();
        s.append("## Engine: one LoRA training step (forward + backward + Adam), LoRAFleet vs PyTorch\n\n");
        s.append(BenchmarkReport.machine()).append(torch ? ", PyTorch from Debian's python3-torch" : ", PyTorch not installed (apt-get install python3-torch libopenblas0-openmp)").append(".\n\n");
        s.append("Command: `").append(command).append("` (median of ").append(steps).append(" timed steps after ").append(warmup).append(" warm-up steps, each workload in its own process).\n\n");
        s.append("Workloads: `minilm` = all-MiniLM-L6-v2's shape (6 layers, d=384, 12 heads, FFN 1536) with a mean-pooled classifier, "
                + "B=16, T=128, LoRA r=8 on query and value; `gpt2-block` = one GPT-2-width block (d=768, 12 heads, causal), B=4, T=128, "
                + "LoRA r=8 on the fused c_attn; `full` = every weight trainable. \"Floor\" = analytic matrix-product FLOPs at "
                + (int) GEMM_GFLOPS_PER_THREAD + " GFLOP/s per thread (one thread's fp32 gemm here): 100% would be pure gemm. \"Time in gemm\" = "
                + "measured share of the step's time inside matrix products, over as many more steps: for LoRAFleet JDK Flight Recorder "
                + "stack samples every 10 ms (Java and native) passing through Nd4j.gemm/matmul, for PyTorch torch.profiler's self time of "
                + "aten::mm, addmm, bmm and baddbmm over the profiled steps' wall time.\n\n");
        s.append("| workload | mode | threads | LoRAFleet ms/step | LoRAFleet tokens/s | PyTorch ms/step | PyTorch tokens/s | speed-up vs PyTorch | % of gemm floor | LoRAFleet time in gemm | PyTorch time in gemm | LoRAFleet peak RSS MiB | PyTorch peak RSS MiB | trainable params | Adam state MB |\n");
        s.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for (String[] r : rows) s.append("| ").append(String.join(" | ", r)).append(" |\n");
        BenchmarkReport.writeSection(file, "engine", s.toString());
    }
}
