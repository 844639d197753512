package io.lorafleet.bench;

import io.lorafleet.datasets.DatasetSpec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The demo's IMDB tokenize config (conf/imdb-tokenize.yaml) pointed at a benchmark's own input, length and output. */
final class ImdbTokenizeConf {
    static final String FILE = "conf/imdb-tokenize.yaml";

    private ImdbTokenizeConf() { }

    /** The model folder whose tokenizer.json the benchmarks use (deploy/bin/lorafleet import-model writes it). */
    static Path tokenizer(Path root) {
        return root.resolve("runs/models/all-minilm-l6-v2").toAbsolutePath();
    }

    static DatasetSpec load(Path root, Path input, int maxLength, Path output, String... overrides) throws IOException {
        List<String> all = new ArrayList<>(List.of("tokenizer=" + tokenizer(root),
                "max_length=" + maxLength, "output=" + output.toAbsolutePath(), "tasks.0.inputs=[" + input.toAbsolutePath() + "]"));
        all.addAll(List.of(overrides));
        return DatasetSpec.load(Files.readAllBytes(root.resolve(FILE)), FILE, all);
    }
}
