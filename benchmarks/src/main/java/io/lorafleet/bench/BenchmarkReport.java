package io.lorafleet.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.LocalDate;
import java.util.List;

/**
 * BENCHMARKS.md is written by the benchmark commands, one section per suite between
 * {@code <!-- bench:SUITE:begin -->} and {@code <!-- bench:SUITE:end -->}; a run replaces its own section only.
 */
public final class BenchmarkReport {
    private BenchmarkReport() { }

    public static void writeSection(Path file, String suite, String markdown) throws IOException {
        String begin = "<!-- bench:" + suite + ":begin -->", end = "<!-- bench:" + suite + ":end -->";
        String section = begin + "\n" + markdown + (markdown.endsWith("\n") ? "" : "\n") + end + "\n";
        String existing = Files.exists(file) ? Files.readString(file) : "# Benchmarks\n\nEvery number here was written by the command shown with it.\n\n";
        int a = existing.indexOf(begin), b = existing.indexOf(end);
        String updated = a >= 0 && b > a ? existing.substring(0, a) + section + existing.substring(b + end.length() + 1) : existing + "\n" + section;
        writeFile(file, updated);
        System.out.println("wrote " + file + " (" + suite + ")");
    }

    /** Replaces {@code file} with {@code text} whole (written beside it, then renamed), creating its folder. */
    public static void writeFile(Path file, String text) throws IOException {
        Files.createDirectories(file.toAbsolutePath().getParent());
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.writeString(tmp, text);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** "Measured DATE on N cores, CPU, OPENBLAS_CORETYPE=…" */
    public static String machine() {
        return "Measured " + LocalDate.now() + " on " + Runtime.getRuntime().availableProcessors() + " cores, " + cpuModel()
                + ", OPENBLAS_CORETYPE=" + System.getenv().getOrDefault("OPENBLAS_CORETYPE", "(unset)");
    }

    /** The model name and, since virtual machines often show only "AMD EPYC", its family and model (AMD 25: Zen 3/4, 26: Zen 5). */
    private static String cpuModel() {
        try {
            List<String> lines = Files.readAllLines(Path.of("/proc/cpuinfo"));
            String name = field(lines, "model name"), family = field(lines, "cpu family"), model = field(lines, "model");
            if (name == null) return "unknown CPU";
            return family == null || model == null ? name : name + " (family " + family + ", model " + model + ")";
        } catch (IOException e) {
            return "unknown CPU";
        }
    }

    private static String field(List<String> cpuinfo, String key) {
        return cpuinfo.stream().filter(l -> l.startsWith(key) && l.substring(0, l.indexOf(':')).trim().equals(key)).findFirst()
                .map(l -> l.substring(l.indexOf(':') + 1).trim()).orElse(null);
    }
}
