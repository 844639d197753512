package io.lorafleet.spark;

import io.lorafleet.datasets.DatasetSpec;
import io.lorafleet.datasets.Manifest;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** The real IMDB sample tokenized once per test JVM with the real MiniLM tokenizer, 64 tokens a review (fast steps). */
final class ImdbShards {
    private static Path folder;

    private ImdbShards() { }

    static synchronized Path folder() throws IOException {
        if (folder == null) {
            Path dir = Files.createTempDirectory("lorafleet-imdb-shards-");
            Path out = dir.resolve("shards");
            String yaml = """
                    tokenizer: %s
                    max_length: 64
                    output: %s
                    tasks:
                      - adapter_id: imdb
                        inputs: [%s]
                        format: jsonl
                        label: label
                        labels: [negative, positive]
                        split_field: split
                    """.formatted(MiniLm.folder(), out, TokenizeJobTest.SAMPLE);
            TokenizeJob.tokenize(SparkTestSession.get(), DatasetSpec.load(yaml.getBytes(StandardCharsets.UTF_8), "imdb.yaml", List.of()), false);
            folder = out;
        }
        return folder;
    }

    static Manifest manifest() throws IOException {
        return Manifest.parse(Files.readAllBytes(folder().resolve(Manifest.FILE)), "manifest.json");
    }
}
