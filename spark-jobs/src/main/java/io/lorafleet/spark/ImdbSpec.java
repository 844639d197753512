package io.lorafleet.spark;

import java.nio.file.Path;

/**
 * The tokenize spec for JSONL rows in the IMDB sample's format ({"split", "label": negative|positive, "text"}),
 * shared by the benchmarks and the tests; other keys (bytes_per_split, max_bad_fraction, ...) come as --set overrides.
 */
final class ImdbSpec {
    private ImdbSpec() { }

    /** @param adapterId the one adapter id, or null to take each row's id from its "task" field */
    static String yaml(Path tokenizer, int maxLength, Path output, Path input, String adapterId) {
        return """
                tokenizer: %s
                max_length: %d
                output: %s
                tasks:
                  - %s
                    inputs: [%s]
                    format: jsonl
                    label: label
                    labels: [negative, positive]
                    split_field: split
                """.formatted(tokenizer, maxLength, output, adapterId == null ? "adapter_id_field: task" : "adapter_id: " + adapterId, input);
    }
}
