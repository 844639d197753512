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
            TokenizeJob.tokenize(SparkTestSession.get(), DatasetSpec.load(spec(out, 64).getBytes(StandardCharsets.UTF_8), "imdb.yaml", List.of()), false);
            folder = out;
        }
        return folder;
    }

    /** The dataset spec for the sample: one adapter "imdb", the sample's own split column. */
    static String spec(Path output, int maxLength) throws IOException {
        return ImdbSpec.yaml(MiniLm.folder(), maxLength, output, TokenizeJobTest.SAMPLE, "imdb");
    }

    static Manifest manifest() throws IOException {
        return Manifest.parse(Files.readAllBytes(folder().resolve(Manifest.FILE)), "manifest.json");
    }
}
