package io.lorafleet.spark;

import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A job's command line is checked against its usage line; and what jobs write on local disk carries no .crc sidecars. */
class CommandLineTest {
    static final String USAGE = "lorafleet job --model DIR [--split test] [--set key=value ...] [--overwrite | --resume] [--dry-run]";

    @Test
    void theUsageLineDefinesTheOptions() {
        CommandLine line = CommandLine.parse(USAGE, new String[] {"--set", "a=1", "--model", "m", "--set", "b=2", "--resume"});
        assertEquals("m", line.value("--model", null));
        assertEquals("test", line.value("--split", "test"), "an option left out takes the caller's default");
        assertEquals(List.of("a=1", "b=2"), line.values("--set"), "a repeatable option keeps its values in order");
        assertTrue(line.flag("--resume"));
        assertFalse(line.flag("--overwrite"));
        assertFalse(line.flag("--dry-run"));
    }

    @Test
    void aCommandLineTheJobCannotRunNamesTheProblemAndShowsTheUsage() {
        assertProblem(new String[] {"--model", "m", "--bogus"}, "lorafleet job: unknown argument --bogus");
        assertProblem(new String[] {"--split", "dev"}, "lorafleet job: --model is required");
        assertProblem(new String[] {"--model"}, "lorafleet job: --model needs a value");
        assertProblem(new String[] {"--model", "a", "--model", "b"}, "lorafleet job: --model is given twice");
        assertProblem(new String[] {"--model", "m", "--dry-run", "x"}, "lorafleet job: unknown argument x");
        CommandLine.UsageException help = assertThrows(CommandLine.UsageException.class, () -> CommandLine.parse(USAGE, new String[] {"--model", "m", "-h"}));
        assertTrue(help.help());
        assertEquals("usage: " + USAGE, help.getMessage());
    }

    @Test
    void everyJobMainsUsageLineParses() {
        for (String usage : List.of(TokenizeJob.USAGE, TrainJob.USAGE, ExportJob.USAGE, EvalAdapter.USAGE, MergeAdapter.USAGE, Demo.USAGE)) {
            CommandLine.UsageException e = assertThrows(CommandLine.UsageException.class, () -> CommandLine.parse(usage, new String[0]));
            assertTrue(e.getMessage().contains("is required"), usage + ": " + e.getMessage());
        }
        JobArgs train = JobArgs.of(CommandLine.parse(TrainJob.USAGE, new String[] {"--config", "c.yaml", "--set", "rounds=2", "--resume"}));
        assertEquals(List.of("c.yaml", List.of("rounds=2"), false, true, false),
                List.of(train.config(), train.overrides(), train.overwrite(), train.resume(), train.dryRun()));
    }

    private static void assertProblem(String[] args, String firstLine) {
        CommandLine.UsageException e = assertThrows(CommandLine.UsageException.class, () -> CommandLine.parse(USAGE, args));
        assertFalse(e.help());
        assertEquals(List.of(firstLine, "usage: " + USAGE), e.getMessage().lines().toList());
    }

    @Test
    void localOutputsHaveNoCrcSidecarsAndStillReadBack(@TempDir java.nio.file.Path tmp) throws Exception {
        try (FileSystem fs = FileSystem.newInstance(tmp.toUri(), SparkJobs.hadoopConf())) {
            assertTrue(fs instanceof LocalFileSystemWithoutCrc, fs.getClass().getName());
            Path file = new Path(tmp.toUri().toString(), "adapter_config.json");
            try (FSDataOutputStream out = fs.create(file, false)) {
                out.write("{}".getBytes());
            }
            fs.rename(file, new Path(tmp.toUri().toString(), "renamed.json"));
            assertEquals(List.of("renamed.json"), Files.list(tmp).map(p -> p.getFileName().toString()).toList());
            Files.writeString(tmp.resolve("renamed.json"), "{\"edited\": true}");
            assertEquals("{\"edited\": true}", new String(fs.open(new Path(tmp.toUri().toString(), "renamed.json")).readAllBytes()),
                    "a hand-edited file reads without a checksum error");
        }
    }
}
