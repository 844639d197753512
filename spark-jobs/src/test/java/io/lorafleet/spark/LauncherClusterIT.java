package io.lorafleet.spark;

import io.lorafleet.datasets.Manifest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The launcher as a user drives it: {@code lorafleet cluster up}, the spark-submit lines that
 * {@code lorafleet submit tokenize|train --dry-run} print (run as printed, with the shaded jar), {@code cluster down}.
 */
class LauncherClusterIT {
    static final Path LAUNCHER = Path.of("../deploy/bin/lorafleet").toAbsolutePath().normalize();
    @TempDir
    Path tmp;

    String run(String... command) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(tmp.resolve("out.log").toFile());
        pb.environment().put("LORAFLEET_CLUSTER_DIR", tmp.resolve("cluster").toString());
        Process p = pb.start();
        assertTrue(p.waitFor(10, TimeUnit.MINUTES), "finished: " + String.join(" ", command));
        String out = Files.readString(tmp.resolve("out.log"));
        assertEquals(0, p.exitValue(), String.join(" ", command) + "\n" + out);
        return out;
    }

    @Test
    void clusterUpSubmitAndDown() throws Exception {
        String port = Integer.toString(StandaloneCluster.freePort());
        Path spec = tmp.resolve("tokenize.yaml");
        Files.writeString(spec, ImdbShards.spec(tmp.resolve("shards"), 128));
        try {
            assertTrue(run(LAUNCHER.toString(), "cluster", "up", "--workers", "1", "--memory", "1500m", "--port", port, "--ui-port", "0")
                    .contains("cluster up: spark://127.0.0.1:" + port));
            String line = run(LAUNCHER.toString(), "submit", "tokenize", "--master", "spark://127.0.0.1:" + port, "--executor-memory", "1g",
                    "--dry-run", "--", "--config", spec.toString()).strip();
            assertTrue(line.contains("spark.executorEnv.OMP_NUM_THREADS=1") && line.contains("lorafleet-app.jar")
                    && line.contains("--class io.lorafleet.spark.TokenizeJob"), line);
            // what every executor needs (README, "Running on a real cluster"): one BLAS thread that does not spin, the BLAS kernel
            // for this CPU, the Vector API module, a small young generation, a JavaCPP cache of its own, and a JVM sized to its cores
            for (String setting : List.of("spark.executorEnv.OMP_WAIT_POLICY=PASSIVE", "spark.executorEnv.OPENBLAS_CORETYPE=", "\\ -XX:ActiveProcessorCount=1 --conf",
                    "spark.executor.extraJavaOptions=--add-modules=jdk.incubator.vector\\ -XX:+UseParallelGC\\ -Xmn32m\\ -Dorg.bytedeco.javacpp.cachedir=/", // shell-quoted
                    "spark.driver.extraJavaOptions=--add-modules=jdk.incubator.vector\\ -XX:+UseParallelGC\\ -Xmn32m")) {
                assertTrue(line.contains(setting), setting + " in " + line);
            }
            String out = run("bash", "-c", line);
            assertTrue(out.contains("wrote 1 shard files") || out.contains("wrote 3 shard files"), out);
            assertEquals(1000, Manifest.parse(Files.readAllBytes(tmp.resolve("shards/manifest.json")), "manifest").rowsRead());

            Path train = tmp.resolve("train.yaml");
            Files.writeString(train, """
                    model: %s
                    shards: %s
                    output: %s
                    lora: {r: 4, alpha: 8, target_modules: [query, value]}
                    batch_size: 4
                    partitions: 1
                    local_steps: 2
                    rounds: 2
                    """.formatted(MiniLm.folder(), tmp.resolve("shards"), tmp.resolve("adapters")));
            String trainLine = run(LAUNCHER.toString(), "submit", "train", "--master", "spark://127.0.0.1:" + port, "--executor-memory", "1g",
                    "--dry-run", "--", "--config", train.toString()).strip();
            assertTrue(trainLine.contains("--class io.lorafleet.spark.TrainJob"), trainLine);
            String trained = run("bash", "-c", trainLine);
            assertTrue(trained.contains("imdb done: 2 rounds"), trained);
            assertTrue(Files.exists(tmp.resolve("adapters/imdb/_COMPLETE")) && Files.exists(tmp.resolve("adapters/summary.json")));
            assertTrue(run(LAUNCHER.toString(), "cluster", "status").contains("worker-1: running"));
        } finally {
            run(LAUNCHER.toString(), "cluster", "down");
        }
        assertTrue(run(LAUNCHER.toString(), "cluster", "status").contains("no cluster"));
    }
}
