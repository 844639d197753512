package io.lorafleet.datasets;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A tokenize spec with a typo or a wrong type fails naming the key's path, instead of falling back to a default. */
class DatasetSpecTest {
    static final String SPEC = """
            tokenizer: runs/models/m
            output: runs/shards
            max_length: 128
            tasks:
              - adapter_id: imdb
                inputs: [reviews.jsonl]
                format: jsonl
                text: text
                label: label
                labels: [negative, positive]
            """;

    static DatasetSpec load(String yaml, String... overrides) throws IOException {
        return DatasetSpec.load(yaml.getBytes(StandardCharsets.UTF_8), "spec.yaml", List.of(overrides));
    }

    @Test
    void theDefaultsAreTheOnesDatasetSpecDocuments() throws IOException {
        DatasetSpec spec = load(SPEC.replace("max_length: 128\n", ""));
        assertEquals(128, spec.maxLength());
        assertEquals(DatasetSpec.Objective.CLASSIFICATION, spec.objective());
        assertEquals(10_000, spec.rowsPerFile());
        assertEquals(0.05, spec.maxBadFraction());
        assertEquals(java.util.Map.of("train", 0.8, "validation", 0.1, "test", 0.1), spec.split().ratios());
        assertEquals(0L, spec.split().seed());
        assertEquals(null, spec.eosTokenId());
        assertEquals(32L << 20, spec.bytesPerSplit());
    }

    @Test
    void unknownKeysAndWrongTypesNameTheirPath() throws IOException {
        assertEquals(128, load(SPEC).maxLength());
        IOException typo = assertThrows(IOException.class, () -> load(SPEC.replace("max_length", "max_lenght")));
        assertEquals("spec.yaml: max_lenght: unknown key; did you mean 'max_length'?", typo.getMessage());
        Exception nested = assertThrows(Exception.class, () -> load(SPEC, "tasks.0.fromat=csv"));
        assertTrue(nested.getMessage().contains("tasks") && nested.getMessage().contains("fromat"), nested.getMessage());
        Exception type = assertThrows(Exception.class, () -> load(SPEC, "max_length=long"));
        assertTrue(type.getMessage().contains("max_length"), type.getMessage());
    }
}
