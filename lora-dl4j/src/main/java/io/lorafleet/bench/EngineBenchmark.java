package io.lorafleet.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The engine benchmark suite: one training step (forward + backward + Adam) of each workload, ours and
 * PyTorch's in the same run, each in its own process so that OMP_NUM_THREADS takes effect. Prints a table
 * and writes it, with the command and the machine, into BENCHMARKS.md.
 *
 * <p>Usage: EngineBenchmark REPO_ROOT COMMAND_LINE [TIMED_STEPS]
 */
public final class EngineBenchmark {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String PYTHON = "/usr/bin/python3";

    private record Run(String shape, String mode, int threads) { }

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: EngineBenchmark REPO_ROOT COMMAND_LINE [TIMED_STEPS]");
            System.exit(2);
        }
        Path root = Path.of(args[0]);
        String command = args[1];
        int steps = args.length > 2 ? Integer.parseInt(args[2]) : 5;
        Path torchScript = root.resolve("deploy/bench/torch_engine.py");
        boolean torch = torchAvailable();
        if (!torch) {
            System.out.println("PyTorch reference not found: install it with `apt-get install python3-torch libopenblas0-openmp` "
                    + "(Debian; run by " + PYTHON + "). Reporting LoRAFleet's numbers only.");
        }
        List<Run> runs = List.of(new Run("minilm", "lora", 1), new Run("minilm", "lora", 2), new Run("gpt2-block", "lora", 1),
                new Run("gpt2-block", "lora", 2), new Run("minilm", "full", 1));
        List<String[]> rows = new ArrayList<>();
        for (Run run : runs) {
            JsonNode ours = measure(javaCommand(run, steps), run.threads());
            JsonNode ref = torch ? measure(List.of(PYTHON, torchScript.toString(), run.shape(), run.mode(), "2", String.valueOf(steps)), run.threads()) : null;
            EngineShape shape = EngineShape.named(run.shape());
            double floorMs = shape.flopsPerStep(run.mode().equals("full")) / GEMM_GFLOPS_PER_THREAD / 1e6 / run.threads();
            String[] row = {
                    run.shape(), run.mode(), String.valueOf(run.threads()),
                    fmt(ours.get("ms_per_step").asDouble()), fmt(ours.get("tokens_per_s").asDouble()),
                    ref == null ? "n/a" : fmt(ref.get("ms_per_step").asDouble()),
                    ref == null ? "n/a" : fmt(ref.get("tokens_per_s").asDouble()),
                    ref == null ? "n/a" : String.format(Locale.ROOT, "%.2f×", ref.get("ms_per_step").asDouble() / ours.get("ms_per_step").asDouble()),
                    String.format(Locale.ROOT, "%.0f%%", 100 * floorMs / ours.get("ms_per_step").asDouble()),
                    ours.get("peak_rss_mb").asText(), ref == null ? "n/a" : ref.get("peak_rss_mb").asText()};
            rows.add(row);
            System.out.println(String.join(" | ", row));
        }
        writeReport(root.resolve("BENCHMARKS.md"), command, steps, rows, torch);
    }

    /** fp32 gemm throughput of one thread on this kind of machine (ND4J/OpenBLAS SkylakeX kernel, measured). */
    static final double GEMM_GFLOPS_PER_THREAD = 104;

    private static List<String> javaCommand(Run run, int steps) {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        return List.of(java, "--add-modules=jdk.incubator.vector", "-Xmx3g", "-cp", System.getProperty("java.class.path"),
                EngineStep.class.getName(), run.shape(), run.mode(), "2", String.valueOf(steps));
    }

    private static JsonNode measure(List<String> command, int threads) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
        Map<String, String> env = pb.environment();
        env.put("OMP_NUM_THREADS", String.valueOf(threads));
        env.put("OMP_WAIT_POLICY", "PASSIVE");
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        int rc = p.waitFor();
        for (String line : out.split("\n")) {
            if (line.startsWith("{")) return JSON.readTree(line);
        }
        throw new IOException("benchmark process " + command + " exited " + rc + " without a result:\n" + out);
    }

    private static boolean torchAvailable() {
        try {
            Process p = new ProcessBuilder(PYTHON, "-c", "import torch").redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private static String fmt(double v) {
        return String.format(Locale.ROOT, "%.0f", v);
    }

    private static void writeReport(Path file, String command, int steps, List<String[]> rows, boolean torch) throws IOException {
        StringBuilder s = new StringBuilder();
        s.append(BEGIN).append('\n');
        s.append("## Engine: one LoRA training step (forward + backward + Adam), LoRAFleet vs PyTorch\n\n");
        s.append("Measured ").append(LocalDate.now()).append(" on ").append(Runtime.getRuntime().availableProcessors()).append(" cores, ")
                .append(cpuModel()).append(", OPENBLAS_CORETYPE=").append(System.getenv().getOrDefault("OPENBLAS_CORETYPE", "(unset)"))
                .append(torch ? ", PyTorch from Debian's python3-torch" : ", PyTorch not installed").append(".\n\n");
        s.append("Command: `").append(command).append("` (median of ").append(steps).append(" timed steps after 2 warm-up steps, each workload in its own process).\n\n");
        s.append("Workloads: `minilm` = all-MiniLM-L6-v2's shape (6 layers, d=384, 12 heads, FFN 1536) with a mean-pooled classifier, "
                + "B=16, T=128, LoRA r=8 on query and value; `gpt2-block` = one GPT-2-width block (d=768, 12 heads, causal), B=4, T=128, "
                + "LoRA r=8 on the fused c_attn; `full` = every weight trainable. \"Floor\" = analytic matrix-product FLOPs at "
                + (int) GEMM_GFLOPS_PER_THREAD + " GFLOP/s per thread (one thread's fp32 gemm here): 100% would be pure gemm.\n\n");
        s.append("| workload | mode | threads | LoRAFleet ms/step | LoRAFleet tokens/s | PyTorch ms/step | PyTorch tokens/s | speed-up vs PyTorch | % of gemm floor | LoRAFleet peak RSS MiB | PyTorch peak RSS MiB |\n");
        s.append("|---|---|---|---|---|---|---|---|---|---|---|\n");
        for (String[] r : rows) s.append("| ").append(String.join(" | ", r)).append(" |\n");
        s.append(END).append('\n');
        String existing = Files.exists(file) ? Files.readString(file) : "# Benchmarks\n\nEvery number here was written by the command shown with it.\n\n";
        int a = existing.indexOf(BEGIN), b = existing.indexOf(END);
        String updated = a >= 0 && b > a ? existing.substring(0, a) + s + existing.substring(b + END.length() + 1) : existing + s;
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.writeString(tmp, updated);
        Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        System.out.println("wrote " + file);
    }

    private static final String BEGIN = "<!-- bench:engine:begin -->";
    private static final String END = "<!-- bench:engine:end -->";

    private static String cpuModel() {
        try {
            return Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
                    .findFirst().map(l -> l.substring(l.indexOf(':') + 1).trim()).orElse("unknown CPU");
        } catch (IOException e) {
            return "unknown CPU";
        }
    }
}
