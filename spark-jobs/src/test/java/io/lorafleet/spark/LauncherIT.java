package io.lorafleet.spark;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * deploy/bin/lorafleet answers like a command-line tool: every help path prints usage and exits 0, an unknown
 * command or argument gets one line naming it, the usage and exit code 2, every job's --dry-run prints its
 * resolved config, and nothing prints escape sequences or lines a user cannot act on — with TERM set and
 * without. Runs after `package`, from the distribution the build just made (the launcher finds it fresh).
 */
class LauncherIT {
    static final List<String> COMMANDS = List.of("demo", "test", "build", "import-model", "tokenize", "train", "export", "eval", "merge",
            "generate", "submit", "cluster", "bench", "env");
    /** The commands whose arguments a Java main checks against its own usage line. */
    static final List<String> JAVA_COMMANDS = List.of("import-model", "tokenize", "train", "export", "eval", "merge", "generate");

    @TempDir
    Path tmp;

    /** Runs the launcher once with TERM set as a terminal emulator sets it and once without, and checks both outputs alike. */
    List<Launcher.Result> run(String... args) throws IOException, InterruptedException {
        List<Launcher.Result> results = new ArrayList<>();
        for (String term : new String[] {"xterm-256color", null}) {
            Map<String, String> env = new HashMap<>();
            env.put("TERM", term);
            Launcher.Result r = Launcher.run(Launcher.ROOT, tmp, env, 5, args);
            assertFalse(r.both().contains("\u001b"), "escape bytes from lorafleet " + String.join(" ", args) + " (TERM=" + term + ")\n" + r);
            results.add(r);
        }
        assertEquals(results.get(0).stdout(), results.get(1).stdout(), "same output with and without TERM");
        return results;
    }

    Launcher.Result runOnce(String... args) throws IOException, InterruptedException {
        return run(args).get(1);
    }

    @Test
    void everyHelpPathPrintsUsageAndExitsZero() throws Exception {
        List<List<String>> paths = new ArrayList<>(List.of(List.of(), List.of("help"), List.of("--help"), List.of("-h")));
        for (String c : COMMANDS) {
            paths.add(List.of(c, "--help"));
            paths.add(List.of(c, "-h"));
            paths.add(List.of("help", c));
        }
        paths.add(List.of("train", "--config", "conf/imdb-train.yaml", "--help"));
        paths.add(List.of("submit", "train", "--master", "local[2]", "--help"));
        for (List<String> path : paths) {
            Launcher.Result r = runOnce(path.toArray(String[]::new));
            assertEquals(0, r.exitCode(), path + "\n" + r);
            assertTrue(r.stdout().startsWith("usage: lorafleet "), path + "\n" + r);
            assertEquals("", r.stderr(), path + "\n" + r);
        }
        String overview = runOnce().stdout();
        for (String c : COMMANDS) assertTrue(overview.contains("\n  " + c), "the overview lists " + c);
    }

    @Test
    void unknownCommandsAndArgumentsNameThemselvesShowTheUsageAndExitTwo() throws Exception {
        expectUsageError(List.of("trian"), "'trian'", runOnce().stdout().lines().findFirst().orElseThrow());
        expectUsageError(List.of("cluster", "sideways"), "sideways", usageLine("cluster"));
        expectUsageError(List.of("cluster", "up", "--wrokers", "2"), "--wrokers", usageLine("cluster"));
        expectUsageError(List.of("demo", "--qiuck"), "--qiuck", usageLine("demo"));
        expectUsageError(List.of("bench", "enigne"), "enigne", usageLine("bench"));
        expectUsageError(List.of("submit", "trian", "--master", "local"), "trian", usageLine("submit"));
        expectUsageError(List.of("submit", "train", "--", "--config", "conf/imdb-train.yaml"), "--master", usageLine("submit"));
        expectUsageError(List.of("build", "now"), "now", usageLine("build"));
        expectUsageError(List.of("env", "x"), "x", usageLine("env"));
        for (String c : JAVA_COMMANDS) {
            // the job main's own usage line is the launcher's: the parser takes exactly the options the help shows
            expectUsageError(List.of(c, "--bogus", "1"), "--bogus", usageLine(c));
        }
        expectUsageError(List.of("train", "--config", "conf/imdb-train.yaml", "--overwrite", "--resume"), "exclude each other", usageLine("train"));
        expectUsageError(List.of("tokenize", "--config", "conf/imdb-tokenize.yaml", "--resume"), "--resume", usageLine("tokenize"));
        expectUsageError(List.of("eval", "--model", "m", "--adapter", "a"), "--data is required", usageLine("eval"));
        expectUsageError(List.of("merge", "--model", "m", "--adapter", "a", "--out"), "--out needs a value", usageLine("merge"));
        expectUsageError(List.of("import-model", "--onnx", "x.onnx"), "required", usageLine("import-model"));
        expectUsageError(List.of("generate", "--model", "m"), "--prompt", usageLine("generate"));
        expectUsageError(List.of("generate", "--model", "m", "--prompt", "Hi", "--top-p", "0"), "top_p", usageLine("generate"));
    }

    private String usageLine(String command) throws Exception {
        return runOnce(command, "--help").stdout().lines().findFirst().orElseThrow();
    }

    private void expectUsageError(List<String> args, String named, String usage) throws Exception {
        Launcher.Result r = runOnce(args.toArray(String[]::new));
        assertEquals(2, r.exitCode(), args + "\n" + r);
        List<String> lines = r.stderr().lines().toList();
        assertTrue(lines.get(0).startsWith("lorafleet") && lines.get(0).contains(named), args + ": first line names " + named + "\n" + r);
        assertTrue(lines.size() > 1 && lines.get(1).equals(usage), args + ": then the usage\n" + usage + "\n" + r);
        assertEquals("", r.stdout(), args + "\n" + r);
    }

    /**
     * The OpenBLAS kernel every launched JVM gets is the CPU's, not an OPENBLAS_CORETYPE the environment carries for
     * other programs (a machine image's Haswell made our step 1.65× slower on an AVX-512 CPU); LoRAFleet's own
     * variable chooses another.
     */
    @Test
    void theOpenBlasKernelIsChosenForTheCpuUnlessLoraFleetIsToldOtherwise() throws Exception {
        String flags = Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("flags")).findFirst().orElse("");
        Set<String> cpu = Set.of(flags.split("\\s+"));
        String expected = cpu.containsAll(List.of("avx512f", "avx512bw", "avx512dq", "avx512vl")) ? "SkylakeX"
                : cpu.contains("avx2") && cpu.contains("fma") ? "Haswell" : ""; // none: OpenBLAS detects the CPU itself
        Map<String, String> inherited = new HashMap<>(Map.of("OPENBLAS_CORETYPE", "Prescott"));
        inherited.put("LORAFLEET_OPENBLAS_CORETYPE", null);
        Launcher.Result r = Launcher.run(Launcher.ROOT, tmp, inherited, 5, "env");
        assertEquals(0, r.exitCode(), r.toString());
        assertTrue(r.stdout().lines().anyMatch(("OPENBLAS_CORETYPE=" + expected)::equals), r.toString());

        inherited.put("LORAFLEET_OPENBLAS_CORETYPE", "Zen");
        r = Launcher.run(Launcher.ROOT, tmp, inherited, 5, "env");
        assertEquals(0, r.exitCode(), r.toString());
        assertTrue(r.stdout().lines().anyMatch("OPENBLAS_CORETYPE=Zen"::equals), r.toString());
    }

    /** An executor's JVM sees the cores it is given (GC and JIT threads), the driver's the machine's. */
    @Test
    void submitSizesEachExecutorsJvmToItsCores() throws Exception {
        Launcher.Result r = runOnce("submit", "train", "--master", "local[2]", "--executor-cores", "2", "--dry-run", "--",
                "--config", "conf/imdb-train.yaml");
        assertEquals(0, r.exitCode(), r.toString());
        List<String> words = List.of(r.stdout().strip().split("(?<!\\\\) "));
        String executor = words.stream().filter(w -> w.startsWith("spark.executor.extraJavaOptions=")).findFirst().orElseThrow();
        String driver = words.stream().filter(w -> w.startsWith("spark.driver.extraJavaOptions=")).findFirst().orElseThrow();
        assertTrue(executor.endsWith("\\ -XX:ActiveProcessorCount=2"), executor);
        assertFalse(driver.contains("ActiveProcessorCount"), driver);
        expectUsageError(List.of("submit", "train", "--master", "local[2]", "--executor-cores", "two", "--", "--config", "conf/imdb-train.yaml"),
                "--executor-cores", usageLine("submit"));
    }

    @Test
    void everyJobsDryRunPrintsItsResolvedConfigAndNothingElse() throws Exception {
        Map<List<String>, String> expected = Map.of(
                List.of("tokenize", "--config", "conf/imdb-tokenize.yaml", "--dry-run"), "tasks:",
                List.of("train", "--config", "conf/imdb-train.yaml", "--set", "epochs=null", "--set", "rounds=7", "--dry-run"), "rounds: 7",
                List.of("export", "--config", "conf/imdb-train.yaml", "--dry-run"), "target_modules:",
                List.of("train", "--config", "conf/hdfs-train.yaml", "--dry-run"), "hdfs://namenode:8020/lorafleet/adapters",
                List.of("train", "--config", "conf/s3-train.yaml", "--dry-run"), "s3a://my-lorafleet/checkpoints",
                List.of("demo", "--dry-run"), "max_length: 128",
                List.of("demo", "--quick", "--dry-run"), "epochs: 0.25");
        for (Map.Entry<List<String>, String> e : expected.entrySet()) {
            for (Launcher.Result r : run(e.getKey().toArray(String[]::new))) {
                assertEquals(0, r.exitCode(), e.getKey() + "\n" + r);
                assertTrue(r.stdout().contains(e.getValue()), e.getKey() + ": prints " + e.getValue() + "\n" + r);
                assertEquals("", r.stderr(), e.getKey() + ": a dry run prints the config and nothing else\n" + r);
                System.out.printf("lorafleet %s: %.2f s%n", String.join(" ", e.getKey()), r.seconds());
            }
        }
    }

    @Test
    void tokenizingInSeparateJvmsGivesByteIdenticalShardsWhoseHashesTheManifestHolds() throws Exception {
        List<List<String>> runs = new ArrayList<>();
        for (int k = 0; k < 3; k++) {
            java.nio.file.Path out = tmp.resolve("shards-" + k);
            Launcher.Result r = Launcher.run(Launcher.ROOT, tmp, Map.of(), 5, "tokenize", "--config", "conf/imdb-tokenize.yaml",
                    "--set", "tokenizer=" + MiniLm.folder(), "--set", "output=" + out);
            assertEquals(0, r.exitCode(), r.toString());
            io.lorafleet.datasets.Manifest manifest = io.lorafleet.datasets.Manifest.parse(
                    java.nio.file.Files.readAllBytes(out.resolve("manifest.json")), "manifest");
            List<String> hashes = new ArrayList<>();
            for (io.lorafleet.datasets.Manifest.ShardFile f : manifest.shards()) {
                java.nio.file.Path file = out.resolve(f.path());
                assertEquals(f.sha256(), io.lorafleet.datasets.Sha256.of(java.nio.file.Files.readAllBytes(file)), "the manifest's SHA-256 of " + file);
                hashes.add(f.path() + " " + f.sha256());
            }
            runs.add(hashes);
        }
        assertFalse(runs.get(0).isEmpty());
        assertEquals(runs.get(0), runs.get(1), "run 1 vs run 2");
        assertEquals(runs.get(0), runs.get(2), "run 1 vs run 3");
    }

    @Test
    void aSecondJobOnTheSameOutputFailsBeforeAnyWorkNamingTheFirst() throws Exception {
        java.nio.file.Path shards = tmp.resolve("lease-shards"), out = tmp.resolve("lease-adapters");
        assertEquals(0, Launcher.run(Launcher.ROOT, tmp, Map.of(), 5, "tokenize", "--config", "conf/imdb-tokenize.yaml",
                "--set", "tokenizer=" + MiniLm.folder(), "--set", "output=" + shards).exitCode());
        String[] train = {"train", "--config", "conf/imdb-train.yaml", "--set", "model=" + MiniLm.folder(), "--set", "shards=" + shards,
                "--set", "output=" + out, "--set", "epochs=null", "--set", "rounds=4", "--set", "partitions=1", "--set", "batch_size=4"};
        List<String> command = new ArrayList<>(List.of(Launcher.ROOT.resolve("deploy/bin/lorafleet").toString()));
        command.addAll(List.of(train));
        Process first = new ProcessBuilder(command).directory(Launcher.ROOT.toFile()).redirectErrorStream(true)
                .redirectOutput(tmp.resolve("first.log").toFile()).start();
        java.nio.file.Path lease = tmp.resolve(".lease-adapters.lease");
        for (int i = 0; i < 600 && !java.nio.file.Files.exists(lease) && first.isAlive(); i++) Thread.sleep(100);
        assertTrue(java.nio.file.Files.exists(lease), "the first job holds the lease\n" + java.nio.file.Files.readString(tmp.resolve("first.log")));

        Launcher.Result second = Launcher.run(Launcher.ROOT, tmp, Map.of(), 5, train);
        assertEquals(1, second.exitCode(), second.toString());
        String line = second.stderr().lines().findFirst().orElse("");
        assertTrue(line.contains("is being written by lorafleet train") && line.contains("pid "), "one line naming the holder: " + second);
        assertFalse(second.stdout().contains("round 1"), "the second job did no work\n" + second);

        assertTrue(first.waitFor(10, java.util.concurrent.TimeUnit.MINUTES));
        String firstLog = java.nio.file.Files.readString(tmp.resolve("first.log"));
        assertEquals(0, first.exitValue(), firstLog);
        assertTrue(java.nio.file.Files.exists(out.resolve("imdb/_COMPLETE")) && !java.nio.file.Files.exists(lease), firstLog);
    }

    @Test
    void aFailureIsOneLineNamingTheFileAndStackTracesComeOnlyWithVerbose() throws Exception {
        java.nio.file.Path shards = tmp.resolve("bad-model-shards"), model = tmp.resolve("truncated-model");
        assertEquals(0, Launcher.run(Launcher.ROOT, tmp, Map.of(), 5, "tokenize", "--config", "conf/imdb-tokenize.yaml",
                "--set", "tokenizer=" + MiniLm.folder(), "--set", "output=" + shards).exitCode());
        java.nio.file.Files.createDirectories(model);
        for (String f : List.of("config.json", "tokenizer.json")) java.nio.file.Files.copy(MiniLm.folder().resolve(f), model.resolve(f));
        byte[] weights = java.nio.file.Files.readAllBytes(MiniLm.folder().resolve("model.safetensors"));
        java.nio.file.Files.write(model.resolve("model.safetensors"), java.util.Arrays.copyOf(weights, weights.length / 2));
        String[] train = {"train", "--config", "conf/imdb-train.yaml", "--set", "model=" + model, "--set", "shards=" + shards,
                "--set", "output=" + tmp.resolve("bad-model-out")};

        Launcher.Result r = Launcher.run(Launcher.ROOT, tmp, Map.of(), 5, train);
        assertEquals(1, r.exitCode(), r.toString());
        List<String> lines = r.stderr().lines().toList();
        assertTrue(lines.get(lines.size() - 1).matches("lorafleet train: failed: file:\\S+/truncated-model/model.safetensors: .*truncated.*"), r.toString());
        assertTrue(lines.size() <= 10 && lines.stream().noneMatch(l -> l.startsWith("\tat ")), "no stack trace without --verbose:\n" + r);

        List<String> training = new ArrayList<>(List.of("--verbose"));
        training.addAll(List.of(train));
        Launcher.Result verbose = Launcher.run(Launcher.ROOT, tmp, Map.of(), 5, training.toArray(String[]::new));
        assertEquals(1, verbose.exitCode());
        assertTrue(verbose.stderr().lines().anyMatch(l -> l.startsWith("\tat io.lorafleet.io.SafetensorsReader")), "--verbose shows where:\n" + verbose);
    }

    @Test
    void anUnwritableOutputCheckpointOrReportFolderFailsTheJobBeforeAnyWork() throws Exception {
        java.nio.file.Path shards = tmp.resolve("report-shards"), blocker = tmp.resolve("a-file");
        assertEquals(0, Launcher.run(Launcher.ROOT, tmp, Map.of(), 5, "tokenize", "--config", "conf/imdb-tokenize.yaml",
                "--set", "tokenizer=" + MiniLm.folder(), "--set", "output=" + shards).exitCode());
        java.nio.file.Files.writeString(blocker, "a file where an output's parent folder should be");
        for (String key : List.of("output", "checkpoints", "report")) {
            java.nio.file.Path out = tmp.resolve("out-" + key), blocked = blocker.resolve(key);
            Map<String, Object> at = new java.util.LinkedHashMap<>(Map.of("output", out, "checkpoints", out.resolve("_checkpoints"), "report", out));
            at.put(key, blocked);
            List<String> args = new ArrayList<>(List.of("train", "--config", "conf/imdb-train.yaml", "--set", "model=" + MiniLm.folder(),
                    "--set", "shards=" + shards));
            at.forEach((k, v) -> args.addAll(List.of("--set", k + "=" + v)));
            Launcher.Result r = Launcher.run(Launcher.ROOT, tmp, Map.of(), 5, args.toArray(String[]::new));
            assertEquals(1, r.exitCode(), key + ": " + r);
            assertTrue(r.stderr().lines().reduce((a, b) -> b).orElse("").contains(blocked.toString()), key + ": names the folder\n" + r);
            assertFalse(r.stdout().contains("round 1"), key + ": no training before the check\n" + r);
            assertFalse(java.nio.file.Files.exists(out.resolve("imdb")), key + ": no adapter written");
        }
    }
}
