package io.lorafleet.spark;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Per-adapter settings: merged key by key over the run's defaults, validated per adapter. */
class TrainConfigTest {
    static TrainConfig load(String adapters, String... overrides) throws IOException {
        String yaml = """
                model: m
                shards: s
                output: o
                lora: {r: 8, alpha: 16, dropout: 0.1, target_modules: [query, value]}
                optimizer: {kind: adamw, learning_rate: 0.002, warmup_steps: 4}
                epochs: 2
                seed: 42
                """ + adapters;
        return TrainConfig.load(yaml.getBytes(StandardCharsets.UTF_8), "t.yaml", List.of(overrides));
    }

    @Test
    void theDefaultsAreTheOnesTheReadmeTableDocuments() throws IOException {
        TrainConfig c = TrainConfig.load("model: m\nshards: s\noutput: o/\nlora: {target_modules: [query]}\n".getBytes(StandardCharsets.UTF_8),
                "minimal.yaml", List.of());
        assertEquals("o/", c.report());
        assertEquals("o/_checkpoints", c.checkpoints());
        assertEquals(0, c.checkpointEvery());
        assertEquals(List.of("a", "b"), c.adapterIds(List.of("a", "b")), "all adapters in the shards");
        io.lorafleet.nn.LoraConfig lora = c.lora();
        assertEquals(8, lora.r());
        assertEquals(8.0, lora.alpha());
        assertEquals(0.0, lora.dropout());
        assertEquals(false, lora.rsLora());
        assertEquals(io.lorafleet.nn.LoraConfig.Init.KAIMING_UNIFORM, lora.init());
        assertEquals(false, lora.useDora(), "plain LoRA unless DoRA is asked for");
        assertEquals(io.lorafleet.model.SequenceClassifier.Pooling.MEAN, c.head().pooling());
        io.lorafleet.optim.OptimizerConfig o = c.optimizer().forRun(100, 1.0);
        assertEquals(io.lorafleet.optim.OptimizerConfig.Kind.ADAMW, o.kind());
        assertEquals(1e-3, o.learningRate());
        assertEquals(0.9, o.beta1());
        assertEquals(0.999, o.beta2());
        assertEquals(1e-8, o.epsilon());
        assertEquals(0.01, o.weightDecay());
        assertEquals(1.0, o.maxGradNorm());
        assertEquals(0, o.warmupSteps());
        assertEquals(io.lorafleet.optim.OptimizerConfig.Decay.LINEAR, o.decay());
        assertEquals(1.0, o.loraplusLrRatio(), "plain LoRA unless LoRA+ is asked for");
        assertEquals(16, c.batchSize());
        assertEquals(1, c.partitions());
        assertEquals(1, c.localSteps());
        assertEquals(1.0, c.epochs());
        assertEquals(42L, c.seed());
        assertEquals(TrainConfig.OptimizerStateMode.AVERAGE, c.optimizerState());
        assertEquals(3, c.maxNanRetries());
        assertEquals("train", c.trainSplit());
        assertEquals("validation", c.evalSplit());
        assertEquals(0, c.evalEvery());
        assertEquals(8, c.waves().maxAdapters());
        assertEquals(1024, c.waves().memoryMb());
        assertEquals(new io.lorafleet.train.DivergenceGuard(10.0, 100.0, 3), c.divergence());
    }

    @Test
    void overridesMergeKeyByKeyOverTheDefaults() throws IOException {
        TrainConfig c = load("""
                adapters:
                  - plain
                  - id: tuned
                    lora: {r: 4, target_modules: [query]}
                    optimizer: {learning_rate: 0.01, loraplus_lr_ratio: 16}
                    rounds: 7
                    seed: 9
                """);
        assertEquals(List.of("plain", "tuned"), c.adapterIds(List.of("ignored")));
        TrainConfig plain = c.forAdapter("plain");
        assertEquals(8, plain.lora().r());
        assertEquals(Double.valueOf(2.0), plain.epochs());
        assertEquals(Long.valueOf(42), plain.seed());

        TrainConfig tuned = c.forAdapter("tuned");
        assertEquals(4, tuned.lora().r());
        assertEquals(16.0, tuned.lora().alpha(), "alpha kept from the defaults");
        assertEquals(0.1, tuned.lora().dropout(), "dropout kept from the defaults");
        assertEquals(List.of("query"), tuned.lora().targetModules());
        assertEquals(Double.valueOf(0.01), tuned.optimizer().learningRate());
        assertEquals(Integer.valueOf(4), tuned.optimizer().warmupSteps(), "warm-up kept from the defaults");
        assertEquals(16.0, tuned.optimizer().loraplusLrRatio(), "LoRA+ for this adapter alone");
        assertEquals(1.0, plain.optimizer().loraplusLrRatio());
        // written (and fingerprinted by checkpoints) only when LoRA+ is on: plain LoRA's JSON is what it was before LoRA+
        assertEquals(16.0, io.lorafleet.datasets.YamlConfig.json().valueToTree(tuned.optimizer()).get("loraplus_lr_ratio").asDouble());
        assertFalse(io.lorafleet.datasets.YamlConfig.json().valueToTree(plain.optimizer()).has("loraplus_lr_ratio"));
        assertEquals(Integer.valueOf(7), tuned.rounds());
        assertNull(tuned.epochs(), "rounds replace the default epochs");
        assertEquals(Long.valueOf(9), tuned.seed());
        assertEquals(List.of("tuned"), tuned.adapterIds(List.of()));

        assertEquals(List.of("a", "b"), load("").adapterIds(List.of("a", "b")), "no list: every adapter of the shards");
        assertEquals(3, load("adapters: [{id: x, lora: {r: 4}}]\n", "adapters.0.lora.r=3").forAdapter("x").lora().r(), "--set reaches overrides");
    }

    @Test
    void aBadOverrideFailsOnlyThatAdapterNamingItAndTheKey() throws IOException {
        TrainConfig c = load("""
                adapters:
                  - good
                  - id: bad
                    lora: {r: 0}
                  - id: typo
                    optimizer: {learning_rat: 0.1}
                """);
        assertEquals(8, c.forAdapter("good").lora().r());
        IOException bad = assertThrows(IOException.class, () -> c.forAdapter("bad"));
        assertTrue(bad.getMessage().startsWith("adapters[1] (bad): ") && bad.getMessage().contains("lora.r must be > 0"), bad.getMessage());
        IOException typo = assertThrows(IOException.class, () -> c.forAdapter("typo"));
        assertEquals("adapters[2] (typo): optimizer.learning_rat: unknown key; did you mean 'learning_rate'?", typo.getMessage());

        IOException twice = assertThrows(IOException.class, () -> load("adapters: [a, {id: a}]\n"));
        assertTrue(twice.getMessage().contains("'a' is listed twice"), twice.getMessage());
        IOException both = assertThrows(IOException.class, () -> load("adapters: [{id: a, epochs: 1, rounds: 2}]\n"));
        assertTrue(both.getMessage().contains("give epochs or rounds, not both"), both.getMessage());
    }
}
