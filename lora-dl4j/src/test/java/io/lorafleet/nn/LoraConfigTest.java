package io.lorafleet.nn;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The LoRA settings as PEFT reads them from adapter_config.json: a wrong scale, match rule or pattern would
 * make our exported adapters behave differently inside PEFT with no error anywhere.
 */
class LoraConfigTest {
    static final String QUERY = "encoder.layer.0.attention.self.query", OUTPUT = "encoder.layer.3.attention.output.dense";

    @Test
    void targetsMatchTheFullNameOrASuffixAfterADot() {
        LoraConfig c = LoraConfig.of(8, 16, List.of("query", "attention.output.dense"));
        assertTrue(c.targets(QUERY));
        assertTrue(c.targets(OUTPUT));
        assertTrue(c.targets("query"));
        assertFalse(c.targets("encoder.layer.0.attention.self.subquery"), "a suffix must start after a dot");
        assertFalse(LoraConfig.of(8, 16, List.of("put.dense")).targets(OUTPUT), "…and be whole names");
        assertFalse(c.targets("encoder.layer.0.output.dense"));
    }

    @Test
    void scaleIsAlphaOverROrOverSqrtRWithRsLoraAndPatternsOverrideBoth() {
        assertEquals(2.0, LoraConfig.of(8, 16, List.of("query")).scaleFor(QUERY), 0.0);
        LoraConfig rs = new LoraConfig(16, 8, 0, List.of("query"), true, LoraConfig.Init.KAIMING_UNIFORM, Map.of(), Map.of(), false);
        assertEquals(2.0, rs.scaleFor(QUERY), 0.0, "alpha / sqrt(r)");
        LoraConfig patterned = new LoraConfig(8, 16, 0, List.of("query", "value"), false, LoraConfig.Init.KAIMING_UNIFORM,
                Map.of("layer.0.attention.self.query", 4), Map.of("query", 32.0), false);
        assertEquals(4, patterned.rankFor(QUERY));
        assertEquals(8, patterned.rankFor("encoder.layer.1.attention.self.query"), "the rank pattern names layer 0 only");
        assertEquals(32.0 / 4, patterned.scaleFor(QUERY), 0.0);
        assertEquals(32.0 / 8, patterned.scaleFor("encoder.layer.1.attention.self.query"), 0.0);
        assertEquals(16.0 / 8, patterned.scaleFor("encoder.layer.1.attention.self.value"), 0.0);
    }

    @Test
    void patternKeysAreRegularExpressionsAndTheFirstMatchInTheGivenOrderWins() {
        // PEFT: re.match(rf"(.*\.)?({key})$", name), first key in adapter_config.json's order
        assertTrue(LoraConfig.patternMatches(QUERY, "layer\\.[0-2]\\.attention\\.self\\.query"), "a regex");
        assertTrue(LoraConfig.patternMatches(QUERY, "layer.0.attention.self.query"), "'.' is any character, as in Python");
        assertFalse(LoraConfig.patternMatches(QUERY, "uery"), "whole names after a dot");
        assertTrue(LoraConfig.patternMatches(QUERY, ".*uery"));
        assertFalse(LoraConfig.patternMatches(QUERY, "query.x"));
        Map<String, Integer> generalFirst = new java.util.LinkedHashMap<>(), specificFirst = new java.util.LinkedHashMap<>();
        generalFirst.put("query", 4);
        generalFirst.put("layer\\.0\\..*query", 16);
        specificFirst.put("layer\\.0\\..*query", 16);
        specificFirst.put("query", 4);
        for (int run = 0; run < 20; run++) { // not an unordered map's order, which can differ from JVM to JVM
            assertEquals(4, new LoraConfig(8, 8, 0, List.of("query"), false, LoraConfig.Init.KAIMING_UNIFORM, generalFirst, Map.of(), false).rankFor(QUERY));
            assertEquals(16, new LoraConfig(8, 8, 0, List.of("query"), false, LoraConfig.Init.KAIMING_UNIFORM, specificFirst, Map.of(), false).rankFor(QUERY));
        }
        IllegalArgumentException bad = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> new LoraConfig(8, 8, 0, List.of("query"), false, LoraConfig.Init.KAIMING_UNIFORM, Map.of("layer.(0", 4), Map.of(), false));
        assertTrue(bad.getMessage().contains("rank_pattern") && bad.getMessage().contains("layer.(0"), bad.getMessage());
    }

    @Test
    void aStartsAsPeftStartsItAndBAtZero() {
        double[] a = new double[8 * 384];
        LoraConfig.of(8, 16, List.of("query")).initializerOfA(QUERY).fill(a, new long[] {8, 384}, new SplittableRandom(1));
        double bound = 1 / Math.sqrt(384), max = 0;
        for (double v : a) max = Math.max(max, Math.abs(v));
        assertTrue(max <= bound && max > 0.95 * bound, "kaiming_uniform(a=√5): U(-1/√in, 1/√in), max " + max);

        LoraConfig gaussian = new LoraConfig(8, 16, 0, List.of("query"), false, LoraConfig.Init.GAUSSIAN, Map.of(), Map.of(), false);
        double[] g = new double[64 * 384];
        gaussian.initializerOfA(QUERY).fill(g, new long[] {64, 384}, new SplittableRandom(2));
        double sum = 0, squares = 0;
        for (double v : g) {
            sum += v;
            squares += v * v;
        }
        double mean = sum / g.length, std = Math.sqrt(squares / g.length - mean * mean);
        assertEquals(1.0 / 8, std, 0.002, "PEFT's gaussian init: std 1/r");
        assertEquals(0.0, mean, 0.002);
    }

    @Test
    void anAdapterStartedFromWeightIsWrittenAsPlainLoraAtTwiceTheRankWithTheSameScale() {
        assertEquals(LoraConfig.Init.PISSA, LoraConfig.Init.parse("PiSSA"));
        assertEquals(LoraConfig.Init.OLORA, LoraConfig.Init.parse("olora"));
        IllegalArgumentException niter = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> LoraConfig.Init.parse("pissa_niter_4"));
        assertTrue(niter.getMessage().contains("exact SVD"), niter.getMessage());
        for (boolean rs : new boolean[] {false, true}) {
            Map<String, Integer> ranks = rs ? Map.of() : Map.of("query", 4);
            Map<String, Double> alphas = rs ? Map.of() : Map.of("value", 32.0);
            LoraConfig pissa = new LoraConfig(8, 16, 0.1, List.of("query", "value"), rs, LoraConfig.Init.PISSA, ranks, alphas, true);
            LoraConfig written = pissa.convertedFromWeight();
            assertEquals(LoraConfig.Init.KAIMING_UNIFORM, written.init());
            assertTrue(written.useDora());
            for (String module : List.of(QUERY, "encoder.layer.0.attention.self.value")) {
                assertEquals(2 * pissa.rankFor(module), written.rankFor(module), module);
                assertEquals(pissa.scaleFor(module), written.scaleFor(module), 1e-12, module + (rs ? " rsLoRA" : ""));
            }
        }
        LoraConfig plain = LoraConfig.of(8, 16, List.of("query"));
        assertEquals(plain, plain.convertedFromWeight());
        IllegalArgumentException rsPatterns = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> new LoraConfig(8, 16, 0, List.of("query"), true, LoraConfig.Init.OLORA, Map.of("query", 4), Map.of(), false));
        assertTrue(rsPatterns.getMessage().contains("rank_pattern"), rsPatterns.getMessage());
    }
}
