package io.lorafleet.spark;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lorafleet.datasets.YamlConfig;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.BiConsumer;

/**
 * The tokenize spec for JSONL rows in the IMDB sample's format ({"split", "label": negative|positive, "text"}),
 * shared by the tests; other keys (bytes_per_split, max_bad_fraction, ...) come as --set overrides.
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

    /**
     * Copies a JSONL file, adding to each row a "task" field t0, t1, … dealt round-robin over {@code tasks}, after
     * {@code edit} has seen the row with its task number.
     */
    static void dealIntoTasks(Path jsonl, int tasks, Path out, BiConsumer<Integer, ObjectNode> edit) throws IOException {
        StringBuilder dealt = new StringBuilder();
        int i = 0;
        for (String line : Files.readAllLines(jsonl)) {
            ObjectNode row = (ObjectNode) YamlConfig.json().readTree(line);
            int task = i++ % tasks;
            row.put("task", "t" + task);
            edit.accept(task, row);
            dealt.append(YamlConfig.jsonLine(row)).append('\n');
        }
        Files.writeString(out, dealt);
    }
}
