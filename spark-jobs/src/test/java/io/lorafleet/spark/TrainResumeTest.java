package io.lorafleet.spark;

import io.lorafleet.train.TrainState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A driver killed with SIGKILL after a checkpoint, then resumed, ends where an uninterrupted run ends, bit for bit. */
class TrainResumeTest {
    @TempDir
    Path tmp;

    Path config(String name) throws IOException {
        Path file = tmp.resolve(name + ".yaml");
        Files.writeString(file, """
                model: %s
                shards: %s
                output: %s
                lora: {r: 4, alpha: 8, dropout: 0.1, target_modules: [query, value]}
                batch_size: 8
                partitions: 2
                local_steps: 2
                rounds: 8
                checkpoint_every: 1
                seed: 11
                optimizer: {kind: adamw, learning_rate: 0.002, warmup_steps: 2, decay: cosine}
                """.formatted(MiniLm.folder(), ImdbShards.folder(), tmp.resolve(name)));
        return file;
    }

    static TrainConfig load(Path file) throws IOException {
        return TrainConfig.load(Files.readAllBytes(file), file.toString(), List.of());
    }

    /** A train driver in its own JVM, as spark-submit or the launcher would start it. */
    Process driver(Path config, String log, String... flags) throws IOException {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        List<String> command = new java.util.ArrayList<>(List.of(java.toString(), "@" + Path.of("../conf/spark-jvm.options").toAbsolutePath(),
                "-Xmx1500m", "-Dspark.master=local[2]", "-Dlog4j2.configurationFile=" + Path.of("../conf/log4j2.properties").toAbsolutePath(),
                "-cp", System.getProperty("java.class.path"), TrainJob.class.getName(), "--config", config.toString()));
        command.addAll(List.of(flags));
        return new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(tmp.resolve(log).toFile()).start();
    }

    @Test
    void killedDriverResumesFromItsLastCheckpointToTheSameResult() throws Exception {
        Path interrupted = config("interrupted");
        Process driver = driver(interrupted, "driver.log");
        Path checkpoint = tmp.resolve("interrupted/_checkpoints/imdb/round-000002/_COMPLETE");
        long deadline = System.nanoTime() + 300_000_000_000L;
        while (!Files.exists(checkpoint) && driver.isAlive() && System.nanoTime() < deadline) Thread.sleep(20);
        assertTrue(driver.isAlive(), "the driver was still training when killed; its log:\n" + Files.readString(tmp.resolve("driver.log")));
        driver.destroyForcibly().waitFor(); // SIGKILL: no shutdown hooks, no cleanup
        assertFalse(Files.exists(tmp.resolve("interrupted/_checkpoints/imdb/final")), "killed before the end");
        assertTrue(Files.exists(tmp.resolve(".interrupted.lease")), "kill -9 leaves the dead driver's lease");

        // train --resume, as a user runs it: takes over the dead run's lease and trains only the rounds left
        Process resume = driver(interrupted, "resume.log", "--resume");
        assertEquals(0, resume.waitFor(), Files.readString(tmp.resolve("resume.log")));
        String resumeLog = Files.readString(tmp.resolve("resume.log"));
        assertTrue(resumeLog.contains("taking over the lease of") && resumeLog.matches("(?s).*resuming after round [3-7] of 8.*"), resumeLog);
        assertFalse(resumeLog.contains("round 1/8") || resumeLog.contains("round 2/8"), "rounds before the checkpoint are not retrained:\n" + resumeLog);
        assertFalse(Files.exists(tmp.resolve(".interrupted.lease")), "released at the end");
        TrainState resumed = Checkpoints.read(SparkJobs.hadoopConf(), new org.apache.hadoop.fs.Path(
                tmp.resolve("interrupted/_checkpoints/imdb/final").toUri())).state();
        assertEquals(8, Files.readAllLines(tmp.resolve("interrupted/_checkpoints/imdb/metrics.jsonl")).size(), "the killed driver's rounds are kept");

        TrainState straight = TrainJob.train(SparkTestSession.get(), load(config("straight")), false, false).get(0).state();
        assertArrayEquals(straight.values(), resumed.values(), "A, B and head");
        assertArrayEquals(straight.optimizerState(), resumed.optimizerState(), "Adam's moments");
        assertTrue(Files.readString(tmp.resolve("driver.log")).contains("round 3/8"), "the killed driver had logged progress");
    }
}
