package io.lorafleet.spark;

import com.fasterxml.jackson.databind.JsonNode;
import io.lorafleet.datasets.YamlConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * deploy/airflow/lorafleet_dag.py, as far as it can be tested without Airflow (not installable here): the file
 * compiles with python3, and every command line its tasks stand for is accepted by
 * {@code lorafleet submit ... --dry-run} — which also binds each job's config — and the spark-submit line it
 * prints carries the main class, the arguments and every Spark setting the DAG's SparkSubmitOperators set.
 */
class AirflowDagIT {
    static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    static final Path DAG = ROOT.resolve("deploy/airflow/lorafleet_dag.py");
    @TempDir
    Path tmp;

    private String run(List<String> command) throws Exception {
        Path log = tmp.resolve("out.log");
        Process p = new ProcessBuilder(command).directory(ROOT.toFile()).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        assertTrue(p.waitFor(5, TimeUnit.MINUTES), "finished: " + command);
        String out = Files.readString(log);
        assertEquals(0, p.exitValue(), String.join(" ", command) + "\n" + out);
        return out;
    }

    @Test
    void theDagCompilesAndEveryCommandItRunsIsAcceptedByTheLauncher() throws Exception {
        run(List.of("/usr/bin/python3", "-c", "import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)",
                DAG.toString(), tmp.resolve("dag.pyc").toString()));
        JsonNode commands = YamlConfig.json().readTree(run(List.of("/usr/bin/python3", DAG.toString(), "--commands")));
        List<String> tasks = new ArrayList<>();
        for (JsonNode c : commands) {
            tasks.add(c.get("task_id").asText());
            List<String> argv = new ArrayList<>();
            c.get("argv").forEach(a -> argv.add(a.asText()));
            assertEquals("deploy/bin/lorafleet", argv.get(0));
            argv.set(0, ROOT.resolve(argv.get(0)).toString());
            int split = argv.indexOf("--");
            List<String> dryRun = new ArrayList<>(argv.subList(0, split));
            dryRun.add("--dry-run");
            dryRun.addAll(argv.subList(split, argv.size()));
            String printed = run(dryRun).strip();
            String line = printed.substring(printed.lastIndexOf('\n') + 1);
            // the printed line is shell-quoted: let bash split it into the argv SparkSubmit would get
            List<String> submitted = run(List.of("bash", "-c", "set -- " + line + "; printf '%s\\n' \"$@\"")).lines().toList();
            int cls = submitted.indexOf("--class");
            assertTrue(cls > 0 && submitted.get(cls + 1).equals(c.get("main").asText()), line);
            for (Map.Entry<String, JsonNode> conf : (Iterable<Map.Entry<String, JsonNode>>) c.get("spark_conf")::fields) {
                assertTrue(submitted.contains(conf.getKey() + "=" + conf.getValue().asText()), conf.getKey() + " differs in " + submitted);
            }
            List<String> jobArgs = argv.subList(split + 1, argv.size());
            assertEquals(jobArgs, submitted.subList(submitted.size() - jobArgs.size(), submitted.size()), "the job's arguments, last");
        }
        assertEquals(List.of("tokenize", "train", "export", "eval", "eval"), tasks, "tokenize, train per adapter group, export, eval per adapter");
    }

    @Test
    void aBadConfigIsRefusedBeforeSubmitting() throws Exception {
        Path bad = tmp.resolve("bad-train.yaml");
        Files.writeString(bad, Files.readString(ROOT.resolve("conf/demo-train.yaml")) + "learning_rate: 0.1\n");
        Process p = new ProcessBuilder(ROOT.resolve("deploy/bin/lorafleet").toString(), "submit", "train", "--master", "spark://127.0.0.1:7077",
                "--dry-run", "--", "--config", bad.toString()).directory(ROOT.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(p.waitFor(5, TimeUnit.MINUTES));
        assertEquals(2, p.exitValue(), out);
        assertTrue(out.contains(bad + ": learning_rate: unknown key") && out.contains("nothing was submitted"), out);
    }
}
