package io.lorafleet.spark;

import io.lorafleet.train.TrainState;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The train job submitted with the shaded jar through SparkSubmit to a real standalone cluster (Master + 2
 * Workers on 127.0.0.1). One executor JVM is killed with SIGKILL in the middle of a round; the job still
 * completes, and its A/B equal those of an undisturbed run of the same configuration.
 */
class StandaloneClusterIT {
    @TempDir
    java.nio.file.Path tmp;

    java.nio.file.Path config(String name) throws Exception {
        java.nio.file.Path file = tmp.resolve(name + ".yaml");
        Files.writeString(file, """
                model: %s
                shards: %s
                output: %s
                lora: {r: 4, alpha: 8, dropout: 0.1, target_modules: [query, value]}
                batch_size: 8
                partitions: 2
                local_steps: 4
                rounds: 6
                seed: 5
                optimizer: {kind: adamw, learning_rate: 0.002}
                """.formatted(MiniLm.folder(), ImdbShards.folder(), tmp.resolve(name)));
        return file;
    }

    @Test
    void trainingSurvivesAKilledExecutorWithTheSameResult() throws Exception {
        java.nio.file.Path onCluster = config("cluster");
        try (StandaloneCluster cluster = new StandaloneCluster(tmp.resolve("spark"), 2, 1, "2g")) {
            List<String> submit = cluster.java("org.apache.spark.deploy.SparkSubmit", "--master", cluster.masterUrl(), "--deploy-mode", "client",
                    "--class", TrainJob.class.getName(), "--conf", "spark.executor.cores=1", "--conf", "spark.executor.memory=1200m",
                    "--conf", "spark.cores.max=2", "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.task.maxFailures=4",
                    "--conf", "spark.executorEnv.OMP_NUM_THREADS=1", "--conf", "spark.executorEnv.OMP_WAIT_POLICY=PASSIVE",
                    "--conf", "spark.executorEnv.OPENBLAS_CORETYPE=" + System.getenv().getOrDefault("OPENBLAS_CORETYPE", ""),
                    "--conf", "spark.executor.extraJavaOptions=--add-modules=jdk.incubator.vector",
                    System.getProperty("lorafleet.app.jar", "target/lorafleet-app.jar"), "--config", onCluster.toString());
            java.nio.file.Path log = tmp.resolve("driver.log");
            ProcessBuilder pb = new ProcessBuilder(submit).redirectErrorStream(true).redirectOutput(log.toFile());
            pb.environment().put("SPARK_HOME", cluster.sparkHome().toString());
            pb.environment().put("SPARK_SCALA_VERSION", "2.13");
            Process driver = pb.start();

            long deadline = System.nanoTime() + 600_000_000_000L;
            while (!Files.readString(log).contains("round 2/6") && driver.isAlive() && System.nanoTime() < deadline) Thread.sleep(50);
            assertTrue(driver.isAlive(), "driver ended early:\n" + Files.readString(log));
            Thread.sleep(800); // into round 3's tasks
            List<ProcessHandle> executors = new ArrayList<>(ProcessHandle.allProcesses()
                    .filter(p -> p.info().commandLine().orElse("").contains("CoarseGrainedExecutorBackend")).toList());
            assertEquals(2, executors.size(), "two executors, one per worker");
            executors.get(0).destroyForcibly(); // SIGKILL
            assertTrue(driver.waitFor(10, java.util.concurrent.TimeUnit.MINUTES), "driver finished");
            String out = Files.readString(log);
            assertEquals(0, driver.exitValue(), out);
            assertTrue(out.contains("done: 6 rounds"), out);
            assertTrue(out.contains("Lost executor"), "Spark saw the executor die:\n" + out);
            assertTrue(out.contains("Lost task"), "the executor died running a task, which Spark ran again:\n" + out);
        }
        TrainState clustered = Checkpoints.read(new Configuration(), new Path(tmp.resolve("cluster/_checkpoints/imdb/final").toString())).state();
        TrainConfig local = TrainConfig.load(Files.readAllBytes(config("local")), "local.yaml", List.of());
        TrainState undisturbed = TrainJob.train(SparkTestSession.get(), local, false, false).get(0).state();
        assertArrayEquals(undisturbed.values(), clustered.values(), "A, B and head");
        assertArrayEquals(undisturbed.optimizerState(), clustered.optimizerState(), "Adam's moments");
    }
}
