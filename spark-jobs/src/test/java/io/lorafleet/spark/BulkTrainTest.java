package io.lorafleet.spark;

import com.fasterxml.jackson.databind.JsonNode;
import io.lorafleet.datasets.DatasetSpec;
import io.lorafleet.datasets.Manifest;
import io.lorafleet.datasets.ShardFormat;
import io.lorafleet.datasets.ShardRow;
import io.lorafleet.datasets.YamlConfig;
import io.lorafleet.io.LocalModelFiles;
import io.lorafleet.io.PretrainedModel;
import io.lorafleet.nn.LoraConfig;
import io.lorafleet.model.SequenceClassifier;
import io.lorafleet.train.DataOrder;
import io.lorafleet.train.TrainState;
import io.lorafleet.train.Trainer;
import org.apache.parquet.io.LocalInputFile;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Five adapters in one train job over the real MiniLM and real reviews: four train together in one wave with
 * their own ranks, target modules, learning rates and lengths; the fifth has only invalid rows and fails
 * alone.
 */
class BulkTrainTest {
    @TempDir
    static Path tmp;
    static Path shards;

    /** The IMDB sample dealt round-robin to tasks t0…t4; every row of t4 has a label outside the label list. */
    @BeforeAll
    static void tokenizeFiveTasks() throws IOException {
        Path input = tmp.resolve("five-tasks.jsonl");
        ImdbSpec.dealIntoTasks(TokenizeJobTest.SAMPLE, 5, input, (task, row) -> {
            if (task == 4) row.put("label", "unsure");
        });
        shards = tmp.resolve("shards");
        String spec = ImdbSpec.yaml(MiniLm.folder(), 48, shards, input, null);
        TokenizeJob.tokenize(SparkTestSession.get(), DatasetSpec.load(spec.getBytes(StandardCharsets.UTF_8), "five.yaml", List.of("max_bad_fraction=0.25")), false);
    }

    static TrainConfig config() throws IOException {
        return config(List.of());
    }

    static TrainConfig config(List<String> overrides) throws IOException {
        String yaml = """
                model: %s
                shards: %s
                output: %s
                report: %s
                adapters:
                  - t0
                  - id: t1
                    lora: {r: 4, target_modules: [query]}
                  - id: t2
                    lora: {r: 2, alpha: 4, target_modules: [value, attention.output.dense]}
                    optimizer: {learning_rate: 0.003}
                  - id: t3
                    rounds: 3
                    seed: 9
                  - t4
                lora: {r: 8, alpha: 16, dropout: 0.1, target_modules: [query, value]}
                optimizer: {kind: adamw, learning_rate: 0.002, warmup_steps: 1}
                batch_size: 6
                partitions: 1
                local_steps: 2
                rounds: 2
                seed: 7
                """.formatted(MiniLm.folder(), shards, tmp.resolve("adapters"), tmp.resolve("run"));
        return TrainConfig.load(yaml.getBytes(StandardCharsets.UTF_8), "bulk.yaml", overrides);
    }

    @Test
    void anAdapterWithABadOverrideFailsAloneAndTheOthersTrainAndExport() throws IOException {
        List<AdapterRun> runs = TrainJob.train(SparkTestSession.get(), config(List.of("output=" + tmp.resolve("bad-override"),
                "report=" + tmp.resolve("bad-override-run"), "rounds=1", "adapters.3.rounds=1", "adapters.1.lora.target_modules=[nope]")), false, false);
        AdapterRun t1 = runs.get(1);
        assertEquals(AdapterRun.Status.FAILED, t1.status());
        assertTrue(t1.failure().contains("nope"), t1.failure());
        for (int i : new int[] {0, 2, 3}) {
            assertEquals(AdapterRun.Status.DONE, runs.get(i).status(), runs.get(i).adapter() + ": " + runs.get(i).failure());
            assertTrue(Files.exists(tmp.resolve("bad-override").resolve(runs.get(i).adapter()).resolve("_COMPLETE")));
        }
        assertFalse(Files.exists(tmp.resolve("bad-override/t1")));
        assertEquals(SparkJobs.PARTIAL_FAILURE, AdapterRun.exitCode(runs));
    }

    @Test
    void adaptersOfEveryVariantTrainTogetherOnAnInt8Base() throws IOException {
        List<AdapterRun> runs = TrainJob.train(SparkTestSession.get(), config(List.of("output=" + tmp.resolve("int8"), "report=" + tmp.resolve("int8-run"),
                "model=" + MiniLm.int8Folder(), "rounds=1", "adapters.3.rounds=1", "lora.init=olora", "adapters.1.lora.use_dora=true",
                "adapters.2.lora.init=pissa")), false, false);
        for (AdapterRun run : runs.subList(0, 4)) {
            assertEquals(AdapterRun.Status.DONE, run.status(), run.adapter() + ": " + run.failure());
            assertTrue(Files.exists(tmp.resolve("int8").resolve(run.adapter()).resolve("_COMPLETE")), run.adapter() + " exported");
        }
        assertEquals(0, runs.get(0).wave(), "one wave");
        assertEquals(0, runs.get(3).wave());
        TrainConfig c = config(List.of("lora.init=olora", "adapters.1.lora.use_dora=true", "adapters.2.lora.init=pissa"));
        List<LoraConfig.Init> starts = new ArrayList<>();
        for (AdapterRun run : runs.subList(0, 4)) starts.add(c.forAdapter(run.adapter()).lora().init());
        assertEquals(List.of(LoraConfig.Init.OLORA, LoraConfig.Init.OLORA, LoraConfig.Init.PISSA, LoraConfig.Init.OLORA), starts, "the job's start unless an adapter has its own (t1: OLoRA with DoRA)");
        assertTrue(c.forAdapter("t1").lora().useDora());
    }

    @Test
    void adaptersAreGroupedInConfigOrderIntoWavesOfAtMostMaxAdaptersAndMemoryBoundsTheStepNotTheWave() throws IOException {
        // at batch 6 × 48 tokens MiniLM's step memory is ≈ 86 MB per adapter (BulkTrainer.stepBytes): at 170 MB a step runs one adapter at a time
        for (var c : List.of(List.of("waves.max_adapters=3", "waves.memory_mb=1024"), List.of("waves.max_adapters=8", "waves.memory_mb=170"))) {
            String name = c.get(0).substring(c.get(0).indexOf('=') + 1) + "-" + c.get(1).substring(c.get(1).indexOf('=') + 1);
            List<String> overrides = new ArrayList<>(c);
            overrides.addAll(List.of("output=" + tmp.resolve("waves-" + name), "report=" + tmp.resolve("waves-run-" + name), "rounds=1",
                    "adapters.3.rounds=1"));
            List<AdapterRun> runs = TrainJob.train(SparkTestSession.get(), config(overrides), false, false);
            List<Integer> waves = runs.subList(0, 4).stream().map(AdapterRun::wave).toList();
            assertEquals(c.get(0).endsWith("=3") ? List.of(0, 0, 0, 1) : List.of(0, 0, 0, 0), waves, String.join(", ", c));
            assertTrue(runs.subList(0, 4).stream().allMatch(r -> r.status() == AdapterRun.Status.DONE));
        }
    }

    @Test
    void fourAdaptersTrainTogetherAsEachWouldAloneAndTheOneWithoutValidRowsFailsAlone() throws IOException {
        TrainConfig config = config();
        List<AdapterRun> runs = TrainJob.train(SparkTestSession.get(), config, false, false);

        assertEquals(List.of("t0", "t1", "t2", "t3", "t4"), runs.stream().map(AdapterRun::adapter).toList());
        AdapterRun failed = runs.get(4);
        assertEquals(AdapterRun.Status.FAILED, failed.status());
        assertTrue(failed.failure().startsWith("adapters: 't4' is not in ") && failed.failure().contains("_quarantine"), failed.failure());
        assertEquals(SparkJobs.PARTIAL_FAILURE, AdapterRun.exitCode(runs));
        assertFalse(Files.exists(tmp.resolve("adapters/t4")));

        // each trained adapter: exported with its own settings, and equal to the single-machine trainer on its own data order
        PretrainedModel model = PretrainedModel.load(new LocalModelFiles(MiniLm.folder()));
        for (AdapterRun run : runs.subList(0, 4)) {
            assertEquals(AdapterRun.Status.DONE, run.status(), run.adapter() + ": " + run.failure());
            Path folder = tmp.resolve("adapters").resolve(run.adapter());
            assertTrue(Files.exists(folder.resolve("_COMPLETE")), run.adapter() + " exported");
            JsonNode peft = YamlConfig.json().readTree(folder.resolve("adapter_config.json").toFile());
            TrainConfig own = config.forAdapter(run.adapter());
            assertEquals(own.lora().r(), peft.get("r").asInt(), run.adapter());
            assertEquals(own.lora().targetModules().size(), peft.get("target_modules").size(), run.adapter());

            List<ShardRow> rows = trainRows(run.adapter());
            DataOrder order = new DataOrder(rows.size(), own.batchSize(), own.seed());
            int steps = run.rounds() * own.localSteps();
            try (Trainer alone = new Trainer(SequenceClassifier.create(model.config(), model.weights(), own.lora(), 2, own.head().pooling(),
                    own.seed()), own.optimizer().forRun(steps, 1.0))) {
                for (int g = 0; g < steps; g++) {
                    List<ShardRow> batch = new ArrayList<>();
                    for (int i : order.batch(g)) batch.add(rows.get(i));
                    alone.step(Batches.pad(batch, false));
                }
                TrainState expected = TrainState.of(alone);
                double worst = 0;
                for (int i = 0; i < expected.values().length; i++) worst = Math.max(worst, Math.abs(expected.values()[i] - run.state().values()[i]));
                System.out.printf("%s: %d steps, max |together - alone| = %.2e%n", run.adapter(), steps, worst);
                org.junit.jupiter.api.Assertions.assertArrayEquals(expected.values(), run.state().values(), run.adapter() + ": bulk vs alone, bit for bit");
            }
        }
        assertEquals(3, runs.get(3).rounds(), "t3 trains its own 3 rounds");

        JsonNode summary = YamlConfig.json().readTree(tmp.resolve("run/summary.json").toFile());
        assertEquals(5, summary.get("adapters").size());
        assertEquals(4, summary.get("run").get("done").asInt());
        assertEquals(1, summary.get("run").get("failed").asInt());
        assertEquals(SparkJobs.PARTIAL_FAILURE, summary.get("run").get("exit_code").asInt());
        assertTrue(summary.get("run").get("memory_estimate_mb").asLong() > (TrainPlan.BASE_BYTES >> 20), "the planner's memory estimate is recorded");
        JsonNode t4 = summary.get("adapters").get(4);
        assertEquals("failed", t4.get("status").asText());
        assertTrue(t4.get("reason").asText().contains("'t4' is not in"));
        JsonNode t1 = summary.get("adapters").get(1);
        assertEquals("done", t1.get("status").asText());
        assertEquals(4, t1.get("params").get("r").asInt());
        assertTrue(t1.get("size_bytes").asLong() > 0 && t1.get("evaluation").get("accuracy").isNumber() && t1.get("wall_seconds").asDouble() > 0);
    }

    private static List<ShardRow> trainRows(String adapter) throws IOException {
        List<ShardRow> rows = new ArrayList<>();
        Manifest m = Manifest.parse(Files.readAllBytes(shards.resolve(Manifest.FILE)), "manifest.json");
        for (Manifest.ShardFile f : m.shards()) {
            if (f.adapterId().equals(adapter) && f.split().equals("train")) ShardFormat.read(new LocalInputFile(shards.resolve(f.path())), rows::add);
        }
        rows.sort(Comparator.comparingLong(ShardRow::rowId));
        return rows;
    }
}
