package io.lorafleet.spark;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What a user sees for a bad job config: the train main in its own JVM with the launcher's logging config,
 * one line naming the file and the key, exit code 1.
 */
class ConfigErrorsTest {
    @TempDir
    Path tmp;

    private List<String> run(String... args) throws Exception {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        List<String> command = new java.util.ArrayList<>(List.of(java.toString(), "@" + Path.of("../conf/spark-jvm.options").toAbsolutePath(),
                "-Dlog4j2.configurationFile=" + Path.of("../conf/log4j2.properties").toAbsolutePath(), "-cp", System.getProperty("java.class.path"), TrainJob.class.getName()));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(2, TimeUnit.MINUTES));
        assertEquals(1, p.exitValue(), err);
        return err.lines().filter(l -> !l.startsWith("WARNING: Using incubator modules")).toList();
    }

    private Path yaml(String name, String extra) throws Exception {
        Path f = tmp.resolve(name);
        Files.writeString(f, "model: m\nshards: s\noutput: o\nlora: {r: 8, target_modules: [query]}\n" + extra);
        return f;
    }

    @Test
    void unknownKeyWrongTypeAndMissingFileEachGiveOneLineWithTheKeyPath() throws Exception {
        Path unknown = yaml("unknown.yaml", "optimizer: {learning_rat: 0.1}\n");
        assertEquals(List.of("lorafleet train: failed: " + unknown + ": optimizer.learning_rat: unknown key; did you mean 'learning_rate'?"), run("--config", unknown.toString(), "--dry-run"));

        Path wrongType = yaml("type.yaml", "batch_size: sixteen\n");
        List<String> type = run("--config", wrongType.toString(), "--dry-run");
        assertEquals(1, type.size(), type.toString());
        assertTrue(type.get(0).startsWith("lorafleet train: failed: " + wrongType + ": batch_size: "), type.get(0));

        Path nested = yaml("nested.yaml", "adapters: [{id: a, lora: {r: 4}, epochs: many}]\n");
        List<String> adapter = run("--config", nested.toString(), "--dry-run");
        assertEquals(1, adapter.size(), adapter.toString());
        assertTrue(adapter.get(0).startsWith("lorafleet train: failed: " + nested + ": adapters[0].epochs: "), adapter.get(0));

        Path missing = tmp.resolve("no-such.yaml");
        List<String> absent = run("--config", missing.toString(), "--dry-run");
        assertEquals(1, absent.size(), absent.toString());
        assertTrue(absent.get(0).startsWith("lorafleet train: failed: ") && absent.get(0).contains(missing.toString()), absent.get(0));
    }
}
