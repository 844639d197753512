package io.lorafleet.spark;

import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What generate takes from a model folder's generation_config.json: stop ids and the repetition penalty, and what it refuses. */
class GenerateTest {
    @TempDir
    Path model;

    private HadoopModelFiles files(String generationConfig, String config) throws IOException {
        if (generationConfig != null) Files.writeString(model.resolve(Generate.GENERATION_CONFIG), generationConfig);
        Files.writeString(model.resolve("config.json"), config);
        return new HadoopModelFiles(model.toUri().toString(), new Configuration());
    }

    @Test
    void stopIdsComeFromTheGenerationConfigElseTheConfig() throws IOException {
        assertEquals(Set.of(2, 32000), Generate.stopIds(files("{\"eos_token_id\": [2, 32000]}", "{\"eos_token_id\": 7}")));
        Files.delete(model.resolve(Generate.GENERATION_CONFIG));
        assertEquals(Set.of(7), Generate.stopIds(files(null, "{\"eos_token_id\": 7}")));
    }

    @Test
    void theRepetitionPenaltyAppliesAndOtherLogitsProcessorsAreRefusedByName() throws IOException {
        assertEquals(1.05, Generate.repetitionPenalty(files("{\"repetition_penalty\": 1.05, \"top_k\": 20, \"do_sample\": true}", "{}")));
        assertEquals(1.0, Generate.repetitionPenalty(files("{\"no_repeat_ngram_size\": 0, \"suppress_tokens\": []}", "{}")), "neutral values pass");
        IOException e = assertThrows(IOException.class, () -> Generate.repetitionPenalty(files("{\"no_repeat_ngram_size\": 3}", "{}")));
        assertTrue(e.getMessage().contains("generation_config.json") && e.getMessage().contains("no_repeat_ngram_size 3"), e.getMessage());
        e = assertThrows(IOException.class, () -> Generate.repetitionPenalty(files("{\"suppress_tokens\": [5]}", "{}")));
        assertTrue(e.getMessage().contains("suppress_tokens"), e.getMessage());
    }
}
