package io.lorafleet.spark;

import com.fasterxml.jackson.databind.JsonNode;
import io.lorafleet.datasets.Manifest;
import io.lorafleet.datasets.YamlConfig;
import io.lorafleet.nn.LoraConfig;
import io.lorafleet.train.TrainState;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A checkpoint written before the lora and optimizer blocks were bound straight into LoraConfig and OptimizerConfig
 * (resources/legacy/checkpoint.json, written by that code for the config below: its lora block has nulls where the
 * config left keys out, and its fingerprint hashes them) still resumes and exports with the same settings, and only
 * with them.
 */
class LegacyCheckpointTest {
    private static final String YAML = """
            model: /models/m
            shards: /shards
            output: /out
            lora: {alpha: 16, dropout: 0.1, target_modules: [query, value]}
            optimizer: {learning_rate: 0.002, warmup_steps: 4}
            rounds: 4
            local_steps: 2
            """;

    private static Manifest manifest(String shardSha) {
        return new Manifest(2, "classification", "t", "tsha", "tfp", 64, List.of("in.jsonl"), Map.of(), 10, 0, 0L, Map.of(), 0, null,
                List.of(new Manifest.ShardFile("adapter_id=imdb/split=train/part-00000.parquet", "imdb", "train", 10, 100, 1000, shardSha)), null);
    }

    /** A small encoder: its batches never pass the step budget, so the fingerprint has its pre-budget form. */
    private static final io.lorafleet.model.TransformerConfig MODEL = io.lorafleet.model.TransformerConfig.bert(31, 16, 2, 2, 24, 64);

    private static Checkpoints.Loaded legacy() throws IOException {
        try (InputStream in = LegacyCheckpointTest.class.getResourceAsStream("/legacy/checkpoint.json")) {
            JsonNode json = YamlConfig.json().readTree(in);
            return new Checkpoints.Loaded(YamlConfig.bind(json, Checkpoints.Info.class, "legacy/checkpoint.json"), json, new TrainState(new float[1], new float[0], 8));
        }
    }

    private static boolean madeBy(Checkpoints.Loaded checkpoint, String shardSha, String... overrides) throws IOException {
        TrainConfig c = TrainConfig.load(YAML.getBytes(StandardCharsets.UTF_8), "legacy.yaml", List.of(overrides)).forAdapter("imdb");
        TrainWorker.Spec spec = new TrainWorker.Spec(c, "model-sha", manifest(shardSha), "imdb", 2, 4, null);
        TrainPlan.Prepared p = new TrainPlan.Prepared(MODEL, "model-sha", 0, manifest(shardSha), "/shards/manifest.json", "msha");
        return TrainPlan.madeBy(checkpoint, spec, p);
    }

    @Test
    void anOldCheckpointBindsWithTheDefaultsItLeftOut() throws IOException {
        LoraConfig lora = legacy().info().config().lora();
        assertEquals(new LoraConfig(8, 16.0, 0.1, List.of("query", "value"), false, LoraConfig.Init.KAIMING_UNIFORM, Map.of(), Map.of(), false), lora);
        assertEquals(0.002, legacy().info().config().optimizer().learningRate());
        assertEquals(4, legacy().info().config().optimizer().warmupSteps());
    }

    @Test
    void anOldCheckpointResumesWithTheSameSettingsDataAndModelOnly() throws IOException {
        Checkpoints.Loaded old = legacy();
        TrainConfig today = TrainConfig.load(YAML.getBytes(StandardCharsets.UTF_8), "legacy.yaml", List.of()).forAdapter("imdb");
        TrainWorker.Spec spec = new TrainWorker.Spec(today, "model-sha", manifest("shard-sha-1"), "imdb", 2, 4, null);
        assertNotEquals(old.info().fingerprint(), TrainPlan.fingerprint(spec, new TrainPlan.Prepared(MODEL, "model-sha", 0, manifest("shard-sha-1"), "m", "s")),
                "the fingerprint's form changed: the legacy path is what accepts it");
        assertTrue(madeBy(old, "shard-sha-1"), "the same config, data and model");
        assertTrue(madeBy(old, "shard-sha-1", "lora.r=8", "lora.rs_lora=false"), "the defaults written out mean the same settings");
        assertFalse(madeBy(old, "shard-sha-1", "lora.r=4"), "another rank");
        assertFalse(madeBy(old, "shard-sha-1", "lora.init=gaussian"), "another initialization");
        assertFalse(madeBy(old, "shard-sha-1", "optimizer.learning_rate=0.003"), "another learning rate");
        assertFalse(madeBy(old, "shard-sha-2"), "other data");
    }

    @Test
    void theBlocksBindIntoTheEnginesRecordsWithPeftsNames() throws IOException {
        for (String init : List.of("kaiming", "true", "KAIMING_UNIFORM", "gaussian")) {
            TrainConfig c = TrainConfig.load(YAML.getBytes(StandardCharsets.UTF_8), "legacy.yaml", List.of("lora.init=" + init));
            assertEquals(init.equals("gaussian") ? LoraConfig.Init.GAUSSIAN : LoraConfig.Init.KAIMING_UNIFORM, c.lora().init(), init);
        }
        IOException steps = assertThrows(IOException.class,
                () -> TrainConfig.load(YAML.getBytes(StandardCharsets.UTF_8), "legacy.yaml", List.of("optimizer.total_steps=5")));
        assertTrue(steps.getMessage().contains("total_steps"), steps.getMessage());
        JsonNode written = YamlConfig.json().valueToTree(TrainConfig.load(YAML.getBytes(StandardCharsets.UTF_8), "legacy.yaml", List.of()));
        assertEquals(List.of("kind", "learning_rate", "beta1", "beta2", "epsilon", "weight_decay", "max_grad_norm", "warmup_steps", "decay"),
                iterate(written.get("optimizer")), "the optimizer block as before: the run's total steps are not a setting");
        assertEquals(List.of("r", "alpha", "dropout", "target_modules", "rs_lora", "init", "rank_pattern", "alpha_pattern"), iterate(written.get("lora")));
    }

    private static List<String> iterate(JsonNode object) {
        List<String> names = new java.util.ArrayList<>();
        object.fieldNames().forEachRemaining(names::add);
        return names;
    }
}
