package io.lorafleet.spark;

import io.lorafleet.datasets.DatasetSpec;
import io.lorafleet.datasets.Manifest;
import io.lorafleet.datasets.ShardFormat;
import io.lorafleet.datasets.ShardRow;
import io.lorafleet.datasets.TextTokenizer;
import org.apache.parquet.io.LocalInputFile;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Bad rows are quarantined with their reason and line, counted, and fail the job only past the threshold. */
class TokenizeBadInputTest {
    @TempDir
    static Path tmp;
    static SparkSession spark;
    static Path jsonl, csv;

    @BeforeAll
    static void inputs() throws IOException {
        spark = SparkTestSession.get();
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        String[] lines = {
                "{\"task\": \"alpha\", \"split\": \"train\", \"text\": \"a fine review\", \"label\": \"positive\"}",
                "{\"task\": \"alpha\", \"split\": \"train\", \"text\": \"broken",
                null, // invalid UTF-8, written below
                "{\"task\": \"alpha\", \"split\": \"train\", \"text\": \"no label here\"}",
                "{\"task\": \"alpha\", \"split\": \"train\", \"text\": \"meh\", \"label\": \"meh\"}",
                "{\"task\": \"alpha\", \"split\": \"train\", \"text\": \"   \", \"label\": \"negative\"}",
                "{\"task\": \"alpha\", \"split\": \"train\", \"text\": 42, \"label\": \"negative\"}",
                "{\"task\": \"../x\", \"split\": \"train\", \"text\": \"escape attempt\", \"label\": \"negative\"}",
                "{\"task\": \"beta\", \"split\": \"test\", \"text\": \"another fine one\", \"label\": \"negative\"}",
                "{\"split\": \"train\", \"text\": \"whose is this\", \"label\": \"negative\"}",
                "{\"task\": \"beta\", \"split\": \"holdout\", \"text\": \"odd split\", \"label\": \"negative\"}",
                "",
                "   ",
        };
        for (String line : lines) {
            if (line == null) b.writeBytes(new byte[] {'{', '"', 't', 'e', 'x', 't', '"', ':', '"', (byte) 0xFF, '"', '}'});
            else b.writeBytes(line.getBytes(StandardCharsets.UTF_8));
            b.write('\n');
        }
        jsonl = tmp.resolve("mixed.jsonl");
        Files.write(jsonl, b.toByteArray());
        csv = tmp.resolve("mixed.csv");
        Files.writeString(csv, "text,label\ngood row,positive\nextra,cells,here\n\n");
    }

    static String yaml(Path out, double maxBad) throws IOException {
        return """
                tokenizer: %s
                output: %s
                max_bad_fraction: %s
                tasks:
                  - adapter_id_field: task
                    inputs: [%s]
                    format: jsonl
                    label: label
                    labels: [negative, positive]
                    split_field: split
                  - adapter_id: gamma
                    inputs: [%s]
                    format: csv
                    label: label
                    labels: [negative, positive]
                """.formatted(MiniLm.folder(), out, maxBad, jsonl, csv);
    }

    static DatasetSpec spec(String yaml) throws IOException {
        return DatasetSpec.load(yaml.getBytes(StandardCharsets.UTF_8), "bad.yaml", List.of());
    }

    @Test
    void everyBadRowIsQuarantinedWithItsReasonAndLine() throws IOException {
        Path out = tmp.resolve("out");
        Manifest m = TokenizeJob.tokenize(spark, spec(yaml(out, 1.0)), false);
        assertEquals(List.of("alpha", "beta", "gamma"), List.copyOf(m.adapters().keySet()));
        assertEquals(13, m.rowsRead());
        assertEquals(10, m.rowsQuarantined());
        assertEquals(3L, m.blankLines(), "every line is accounted for: 13 JSONL lines + 3 CSV lines = 13 rows + 3 blank lines");
        Map<String, Long> expected = new TreeMap<>(Map.of("malformed_json", 1L, "invalid_utf8", 1L, "missing_label", 1L, "unknown_label", 1L,
                "empty_text", 1L, "wrong_type", 1L, "bad_adapter_id", 2L, "unknown_split", 1L, "malformed_csv", 1L));
        assertEquals(expected, m.droppedByReason());

        List<Row> q = spark.read().parquet(out.resolve(m.quarantine()).toString()).orderBy("source", "line").collectAsList();
        Map<Long, String> jsonlReasons = new TreeMap<>();
        for (Row r : q) {
            if (r.getString(r.fieldIndex("source")).endsWith("mixed.jsonl")) jsonlReasons.put(r.getLong(r.fieldIndex("line")), r.getString(r.fieldIndex("reason")));
            else assertEquals(3L, r.getLong(r.fieldIndex("line")), "the CSV row with three cells");
        }
        assertEquals(Map.of(2L, "malformed_json", 3L, "invalid_utf8", 4L, "missing_label", 5L, "unknown_label", 6L, "empty_text",
                7L, "wrong_type", 8L, "bad_adapter_id", 10L, "bad_adapter_id", 11L, "unknown_split"), jsonlReasons);
        Row escape = q.stream().filter(r -> r.getLong(r.fieldIndex("line")) == 8).findFirst().orElseThrow();
        assertTrue(escape.getString(escape.fieldIndex("raw")).contains("escape attempt"), "the raw row is kept");
        Row unknown = q.stream().filter(r -> r.getLong(r.fieldIndex("line")) == 5).findFirst().orElseThrow();
        assertTrue(unknown.getString(unknown.fieldIndex("detail")) != null && !unknown.getString(unknown.fieldIndex("detail")).isBlank(),
                "each row says what was wrong with it");

        assertFalse(Files.exists(tmp.resolve("x")), "no folder outside the output");

        // the same rows as JSON lines, for people, in (source, line) order
        List<com.fasterxml.jackson.databind.JsonNode> lines = new ArrayList<>();
        for (String line : Files.readAllLines(out.resolve(m.quarantine() + ".jsonl"))) lines.add(new com.fasterxml.jackson.databind.ObjectMapper().readTree(line));
        assertEquals(10, lines.size());
        List<String> order = lines.stream().map(l -> l.get("source").asText() + String.format("%09d", l.get("line").asLong())).toList();
        assertEquals(order.stream().sorted().toList(), order, "in (source, line) order");
        for (String key : List.of("task", "adapter_id", "source", "line", "reason", "detail", "value", "raw")) assertTrue(lines.get(0).has(key), key);
        com.fasterxml.jackson.databind.JsonNode meh = lines.stream().filter(l -> l.get("line").asLong() == 5 && l.get("source").asText().endsWith("mixed.jsonl"))
                .findFirst().orElseThrow();
        assertEquals("unknown_label", meh.get("reason").asText());
        assertEquals("meh", meh.get("value").asText());
        assertTrue(meh.get("raw").asText().contains("\"label\": \"meh\""), meh.toString());
        try (var entries = Files.list(out)) {
            assertEquals(List.of("_quarantine", "_quarantine.jsonl", "adapter_id=alpha", "adapter_id=beta", "adapter_id=gamma", "manifest.json"),
                    entries.map(p -> p.getFileName().toString()).filter(n -> !n.startsWith(".")).sorted().toList()); // .crc: Hadoop's local checksums
        }
    }

    @Test
    void tooManyBadRowsOrATaskWithNoValidRowFailsAndWritesNothing() throws IOException {
        Path out = tmp.resolve("strict");
        IOException e = assertThrows(IOException.class, () -> TokenizeJob.tokenize(spark, spec(yaml(out, 0.1)), false));
        assertTrue(e.getMessage().startsWith("tasks[0]: 9 of 11 rows (81.8%) are bad: bad_adapter_id 2, "), e.getMessage());
        assertTrue(e.getMessage().contains("unknown_label 1 ('meh' ×1), unknown_split 1 ('holdout' ×1), wrong_type 1; above max_bad_fraction 0.1"),
                e.getMessage());
        Path kept = tmp.resolve("strict.failed");
        assertTrue(e.getMessage().endsWith("; the quarantined rows with their reasons are in " + kept.toUri().toString().replaceAll("/$", "")
                + "/_quarantine.jsonl") || e.getMessage().endsWith(kept.resolve("_quarantine.jsonl").toString()), e.getMessage());
        assertEquals(10, Files.readAllLines(kept.resolve("_quarantine.jsonl")).size());
        assertFalse(Files.exists(out), "a failed job leaves no output folder");
        try (var siblings = Files.list(tmp)) {
            assertEquals(List.of(), siblings.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(".strict")).toList(), "and no temporary folder");
        }
        TokenizeJob.tokenize(spark, spec(yaml(out, 1.0)), false);
        assertFalse(Files.exists(kept), "a run that succeeds removes the earlier failure's quarantine");

        Path onlyBad = tmp.resolve("only-bad.jsonl");
        Files.writeString(onlyBad, "{\"text\": \"\"}\nnot json\n");
        String yaml = """
                tokenizer: %s
                output: %s
                max_bad_fraction: 1.0
                tasks:
                  - adapter_id: empty
                    inputs: [%s]
                    format: jsonl
                    label: label
                    labels: [a, b]
                """.formatted(MiniLm.folder(), tmp.resolve("none"), onlyBad);
        e = assertThrows(IOException.class, () -> TokenizeJob.tokenize(spark, spec(yaml), false));
        assertTrue(e.getMessage().startsWith("tasks[0] (empty): no valid rows (2 quarantined: empty_text 1, malformed_json 1)")
                && e.getMessage().contains("none.failed"), e.getMessage());
    }

    @Test
    void aTokenizerThatDoesNotFitTheModelIsRefusedNamingBothFiles() throws IOException {
        Path model = tmp.resolve("mismatched-model");
        Files.createDirectories(model);
        Files.copy(MiniLm.folder().resolve("tokenizer.json"), model.resolve("tokenizer.json"));
        Files.writeString(model.resolve("config.json"), Files.readString(MiniLm.folder().resolve("config.json")).replace("30522", "1000"));
        String yaml = yaml(tmp.resolve("never"), 1.0).replace(MiniLm.folder().toString(), model.toString());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TokenizeJob.tokenize(spark, spec(yaml), false));
        assertTrue(e.getMessage().contains(model + "/tokenizer.json") && e.getMessage().contains(model + "/config.json")
                && e.getMessage().contains("30522") && e.getMessage().contains("1000"), e.getMessage());
    }

    @Test
    void causalLmPacksTokenStreamsIntoFullBlocks() throws IOException {
        List<String> reviews = new ArrayList<>();
        for (String line : Files.readAllLines(TokenizeJobTest.SAMPLE).subList(0, 40)) {
            reviews.add(new com.fasterxml.jackson.databind.ObjectMapper().readTree(line).get("text").asText().replace('\n', ' '));
        }
        Path text = tmp.resolve("reviews.txt");
        Files.write(text, reviews);
        Path out = tmp.resolve("lm");
        String yaml = """
                tokenizer: %s
                output: %s
                objective: causal_lm
                max_length: 64
                split: {ratios: {train: 1.0}}
                tasks:
                  - adapter_id: lm
                    inputs: [%s]
                    format: text
                """.formatted(MiniLm.folder(), out, text);
        Manifest m = TokenizeJob.tokenize(spark, spec(yaml), false);
        long expectedTokens = 0;
        try (TextTokenizer t = TextTokenizer.fromJson(Files.readAllBytes(MiniLm.folder().resolve("tokenizer.json")), 1 << 20, "t")) {
            for (String r : reviews) expectedTokens += t.encode(r).length();
        }
        List<ShardRow> rows = new ArrayList<>();
        for (Manifest.ShardFile f : m.shards()) ShardFormat.read(new LocalInputFile(out.resolve(f.path())), rows::add);
        assertTrue(rows.stream().allMatch(r -> r.length() == 64 && r.label() == ShardRow.NO_LABEL));
        assertEquals(expectedTokens, rows.size() * 64L + m.droppedTailTokens());
        assertTrue(m.droppedTailTokens() < 64);
        assertEquals(List.of(), m.adapters().get("lm").labels());
    }
}
