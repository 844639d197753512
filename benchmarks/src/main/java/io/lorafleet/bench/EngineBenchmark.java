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
 * Writes the engine benchmark's report: reads the JSON lines that {@link EngineStep} and the peer, Hugging Face
 * PEFT on PyTorch (deploy/bench/peft_engine.py), printed — one process per workload, launched by
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
        Map<String, Runs> ours = new LinkedHashMap<>(), reference = new LinkedHashMap<>();
        String peer = "n/a";
        for (String line : Files.readAllLines(Path.of(args[2]))) {
            if (!line.startsWith("{")) continue;
            JsonNode r = JSON.readTree(line);
            String key = r.get("shape").asText() + "|" + r.get("mode").asText() + "|" + r.get("threads").asText();
            if (!r.get("engine").asText().equals("lorafleet")) peer = r.get("engine").asText();
            (r.get("engine").asText().equals("lorafleet") ? ours : reference).computeIfAbsent(key, k -> new Runs(new ArrayList<>())).list().add(r);
        }
        List<String[]> rows = new ArrayList<>();
        for (Map.Entry<String, Runs> e : ours.entrySet()) {
            Runs o = e.getValue(), ref = reference.get(e.getKey());
            JsonNode first = o.list().get(0);
            EngineShape shape = EngineShape.named(first.get("shape").asText());
            boolean full = first.get("mode").asText().equals("full");
            int threads = first.get("threads").asInt();
            double tokens = (double) shape.batch() * shape.seqLen();
            double ms = o.mean("ms_per_step"), floorMs = shape.flopsPerStep(full) / o.mean("gemm_gflops") / 1e6;
            String[] row = {
                    first.get("shape").asText(), first.get("mode").asText(), String.valueOf(threads), String.valueOf(o.list().size()),
                    fmt(ms), fmt(tokens / ms * 1e3),
                    ref == null ? "n/a" : fmt(ref.mean("ms_per_step")),
                    ref == null ? "n/a" : fmt(tokens / ref.mean("ms_per_step") * 1e3),
                    ref == null ? "n/a" : String.format(Locale.ROOT, "%.2f×", ref.mean("ms_per_step") / ms),
                    fmt(o.mean("gemm_gflops")), ref == null ? "n/a" : fmt(ref.mean("gemm_gflops")),
                    String.format(Locale.ROOT, "%.0f%%", 100 * floorMs / ms),
                    ref == null ? "n/a" : String.format(Locale.ROOT, "%.0f%%",
                            100 * shape.flopsPerStep(full) / ref.mean("gemm_gflops") / 1e6 / ref.mean("ms_per_step")),
                    percent(o.mean("gemm_share")), ref == null ? "n/a" : percent(ref.mean("gemm_share")),
                    fmt(o.max("peak_rss_mb")), ref == null ? "n/a" : fmt(ref.max("peak_rss_mb")),
                    String.format(Locale.ROOT, "%,d", first.get("trainable_params").asLong()),
                    String.format(Locale.ROOT, "%.2f", first.get("optimizer_state_bytes").asLong() / 1e6)};
            rows.add(row);
            System.out.println(String.join(" | ", row));
        }
        writeReport(root.resolve("BENCHMARKS.md"), command, warmup, steps, rows, peer);
    }

    /** One engine's runs of one workload (one process each). */
    private record Runs(List<JsonNode> list) {
        double mean(String field) {
            return list.stream().mapToDouble(r -> r.get(field).asDouble()).average().orElseThrow();
        }

        double max(String field) {
            return list.stream().mapToDouble(r -> r.get(field).asDouble()).max().orElseThrow();
        }
    }

    private static String percent(double share) {
        return String.format(Locale.ROOT, "%.0f%%", 100 * share);
    }

    private static String fmt(double v) {
        return String.format(Locale.ROOT, "%.0f", v);
    }

    private static void writeReport(Path file, String command, int warmup, int steps, List<String[]> rows, String peer) throws IOException {
        StringBuilder s = new StringBuilder();
        s.append("## Engine: one LoRA training step (forward + backward + Adam), LoRAFleet vs Hugging Face PEFT\n\n");
        s.append(BenchmarkReport.machine()).append("; the peer: ").append(peer).append(".\n\n");
        s.append("Command: `").append(command).append("`. Each workload runs in its own process per engine: the median of ").append(steps)
                .append(" timed steps after ").append(warmup).append(" warm-up steps and at least ")
                .append(String.format(java.util.Locale.ROOT, "%.0f", EngineStep.WARMUP_SECONDS))
                .append(" s of them (the JIT compiler's work takes cores from a JVM's first steps; both engines warm as long); two rounds, the second in the opposite engine order, and each ")
                .append("number is the mean of an engine's runs (this VM drifts ±10–15% from one minute to the next).\n\n");
        s.append("Workloads: `minilm` = all-MiniLM-L6-v2's shape (6 layers, d=384, 12 heads, FFN 1536) with a mean-pooled classifier, "
                + "B=16, T=128, LoRA r=8 on query and value; `gpt2-block` = one GPT-2-width block (d=768, 12 heads, causal), B=4, T=128, "
                + "LoRA r=8 on the fused c_attn; `llama-block` = one Llama decoder layer in SmolLM2-135M's shape (d=576, 9 query heads sharing "
                + "3 key/value heads of 64, SwiGLU 1536, rotary positions, causal), B=4, T=128, LoRA r=8 on q_proj and v_proj; "
                + "`full` = every weight trainable. The peer is what a user would run instead "
                + "(deploy/bench/peft_engine.py): transformers' BertModel (sdpa attention), GPT2Block or LlamaDecoderLayer with PEFT's LoRA on the same "
                + "modules, the same head, Adam on the trainable tensors, fp32; random weights on both sides. \"Gemm GFLOP/s\" = each engine's BLAS "
                + "(ND4J's OpenBLAS; the peer's MKL) measured in the same process on the workload's projection shapes (tokens × d times d×d, d×FFN, "
                + "FFN×d): the speed-up includes the ratio of the two, which depends on the CPU (MKL runs its AVX2 code on AMD CPUs). \"Floor\" = "
                + "the step's analytic matrix-product FLOPs at that engine's own gemm rate: 100% would be pure gemm at that rate, so the two floor "
                + "columns compare the engines without their BLAS. \"Time in gemm\" = "
                + "measured share of the step's time inside matrix products, over as many more steps: for LoRAFleet JDK Flight Recorder "
                + "stack samples every 10 ms (Java and native) passing through Nd4j.gemm/matmul, for the peer torch.profiler's self time of "
                + "aten::mm, addmm, bmm and baddbmm over the profiled steps' wall time (sdpa's fused attention kernel not counted).\n\n");
        s.append("| workload | mode | threads | runs | LoRAFleet ms/step | LoRAFleet tokens/s | PEFT ms/step | PEFT tokens/s | speed-up vs PEFT | LoRAFleet gemm GFLOP/s | PEFT gemm GFLOP/s | LoRAFleet % of gemm floor | PEFT % of gemm floor | LoRAFleet time in gemm | PEFT time in gemm | LoRAFleet peak RSS MiB | PEFT peak RSS MiB | trainable params | Adam state MB |\n");
        s.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for (String[] r : rows) s.append("| ").append(String.join(" | ", r)).append(" |\n");
        BenchmarkReport.writeSection(file, "engine", s.toString());
    }
}
