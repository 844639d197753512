package io.lorafleet.spark;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.lorafleet.datasets.DatasetSpec;
import io.lorafleet.datasets.Manifest;
import io.lorafleet.datasets.ShardFormat;
import io.lorafleet.datasets.ShardRow;
import io.lorafleet.datasets.TextTokenizer;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.io.LocalInputFile;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The tokenize job on the real IMDB sample with the real MiniLM tokenizer, in local Spark. */
class TokenizeJobTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final java.nio.file.Path SAMPLE = java.nio.file.Path.of("../datasets/imdb/sample/imdb-sample.jsonl").toAbsolutePath().normalize();
    @TempDir
    static java.nio.file.Path tmp;
    static SparkSession spark;
    static List<JsonNode> sample = new ArrayList<>();
    static java.nio.file.Path csv, parquet;

    @BeforeAll
    static void inputs() throws IOException {
        spark = SparkTestSession.get();
        for (String line : Files.readAllLines(SAMPLE)) sample.add(JSON.readTree(line));
        // the same real reviews in two more formats, as two more tasks: rows 0..199 as CSV, 200..399 as Parquet
        csv = tmp.resolve("imdb-part.csv");
        StringBuilder b = new StringBuilder("review,sentiment\n");
        for (JsonNode r : sample.subList(0, 200)) b.append(quote(r.get("text").asText())).append(',').append(r.get("label").asText()).append('\n');
        Files.writeString(csv, b);
        List<Row> rows = new ArrayList<>();
        for (JsonNode r : sample.subList(200, 400)) rows.add(RowFactory.create(r.get("text").asText(), r.get("label").asText(), r.get("split").asText()));
        StructType schema = new StructType().add("body", DataTypes.StringType).add("label", DataTypes.StringType).add("split", DataTypes.StringType);
        parquet = tmp.resolve("imdb-part.parquet");
        spark.createDataFrame(rows, schema).coalesce(1).write().parquet(parquet.toString());
    }

    static String quote(String s) {
        return '"' + s.replace("\"", "\"\"") + '"';
    }

    static DatasetSpec spec(String yaml) throws IOException {
        return DatasetSpec.load(yaml.getBytes(StandardCharsets.UTF_8), "test.yaml", List.of());
    }

    static String threeTasks(String output) throws IOException {
        return threeTasks(output, 32 << 20);
    }

    static String threeTasks(String output, long bytesPerSplit) throws IOException {
        return """
                tokenizer: %s
                max_length: 128
                output: %s
                bytes_per_split: %d
                rows_per_file: 150
                tasks:
                  - adapter_id: imdb-jsonl
                    inputs: [%s]
                    format: jsonl
                    labels: [negative, positive]
                    label: label
                    split_field: split
                  - adapter_id: imdb-csv
                    inputs: [%s]
                    format: csv
                    text: review
                    label: sentiment
                    labels: [negative, positive]
                  - adapter_id: imdb-parquet
                    inputs: ["%s/*.parquet"]
                    format: parquet
                    text: body
                    label: label
                    labels: [negative, positive]
                    split_field: split
                """.formatted(MiniLm.folder(), output, bytesPerSplit, SAMPLE, csv, parquet);
    }

    static Map<String, List<ShardRow>> readShards(java.nio.file.Path root, Manifest manifest) throws IOException {
        Map<String, List<ShardRow>> byAdapter = new TreeMap<>();
        for (Manifest.ShardFile f : manifest.shards()) {
            ShardFormat.read(new LocalInputFile(root.resolve(f.path())), r -> byAdapter.computeIfAbsent(r.adapterId(), k -> new ArrayList<>()).add(r));
        }
        return byAdapter;
    }

    @Test
    void threeTasksOfRealReviewsMatchAnIndependentCountAndTheTokenizer() throws IOException {
        java.nio.file.Path out = tmp.resolve("shards");
        Manifest m = TokenizeJob.tokenize(spark, spec(threeTasks(out.toString())), false);
        assertTrue(Files.exists(out.resolve(Manifest.FILE)));
        assertEquals(List.of("imdb-csv", "imdb-jsonl", "imdb-parquet"), List.copyOf(m.adapters().keySet()));

        // independent counts from the input rows
        Map<String, Long> jsonlSplits = new TreeMap<>(), jsonlLabels = new TreeMap<>();
        for (JsonNode r : sample) {
            jsonlSplits.merge(r.get("split").asText(), 1L, Long::sum);
            jsonlLabels.merge(r.get("label").asText(), 1L, Long::sum);
        }
        Manifest.AdapterStats jsonl = m.adapters().get("imdb-jsonl");
        assertEquals(jsonlSplits, jsonl.rows());
        Map<String, Long> labelTotals = new TreeMap<>();
        jsonl.labelHistogram().values().forEach(h -> h.forEach((k, v) -> labelTotals.merge(k, v, Long::sum)));
        assertEquals(jsonlLabels, labelTotals);
        assertEquals(200L, m.adapters().get("imdb-csv").rows().values().stream().mapToLong(Long::longValue).sum());
        assertEquals(3, m.adapters().get("imdb-csv").rows().size(), "hash split gives all three splits");
        assertEquals(200L, m.adapters().get("imdb-parquet").rows().values().stream().mapToLong(Long::longValue).sum());
        assertEquals(1400, m.rowsRead());
        assertEquals(0, m.rowsQuarantined());
        assertEquals(64, m.tokenizerSha256().length());
        assertTrue(m.shards().stream().allMatch(f -> f.rows() <= 150), "rows_per_file bounds every shard");
        assertTrue(m.shards().stream().anyMatch(f -> f.path().equals("adapter_id=imdb-jsonl/split=train/part-00003.parquet")));
        long histogramRows = jsonl.lengthHistogram().stream().mapToLong(Long::longValue).sum();
        assertEquals(1000, histogramRows);

        // shards hold exactly the tokenizer's ids for each source row, in source order
        Map<String, String> textBySourceLine = new HashMap<>();
        for (int i = 0; i < sample.size(); i++) textBySourceLine.put("file:" + SAMPLE + "#" + (i + 1), sample.get(i).get("text").asText());
        Map<String, List<ShardRow>> shards = readShards(out, m);
        try (TextTokenizer t = TextTokenizer.fromJson(Files.readAllBytes(MiniLm.folder().resolve("tokenizer.json")), 128, "tokenizer.json")) {
            List<ShardRow> rows = shards.get("imdb-jsonl");
            assertEquals(1000, rows.size());
            for (ShardRow r : rows) {
                String text = textBySourceLine.get(r.source() + "#" + r.line());
                assertArrayEquals(t.encode(text).ids(), r.inputIds(), r.source() + ":" + r.line());
                JsonNode original = sample.get((int) r.line() - 1);
                assertEquals(original.get("split").asText(), r.split());
                assertEquals(original.get("label").asText().equals("positive") ? 1 : 0, r.label());
            }
        }
        // row ids number each (adapter, split) from 0 in line order
        Map<String, List<ShardRow>> bySplit = new TreeMap<>();
        shards.get("imdb-jsonl").forEach(r -> bySplit.computeIfAbsent(r.split(), k -> new ArrayList<>()).add(r));
        bySplit.values().forEach(list -> {
            list.sort(java.util.Comparator.comparingLong(ShardRow::rowId));
            for (int i = 0; i < list.size(); i++) {
                assertEquals(i, list.get(i).rowId());
                if (i > 0) assertTrue(list.get(i).line() > list.get(i - 1).line());
            }
        });
        // Spark reads the shards with the adapter id as a real column
        assertEquals(1000, spark.read().parquet(out.resolve("adapter_id=imdb-jsonl").toString()).filter("adapter_id = 'imdb-jsonl'").count());
    }

    @Test
    void aReRunWritesByteIdenticalShardsEvenWhenFilesAreSplitAndNeverOverwritesSilently() throws IOException {
        java.nio.file.Path first = tmp.resolve("run-a"), second = tmp.resolve("run-b");
        Manifest a = TokenizeJob.tokenize(spark, spec(threeTasks(first.toString())), false);
        Manifest b = TokenizeJob.tokenize(spark, spec(threeTasks(second.toString(), 100_000)), false); // the JSONL read by 14 tasks
        assertEquals(a.shards(), b.shards(), "same files, rows and SHA-256");
        for (Manifest.ShardFile f : a.shards()) assertArrayEquals(Files.readAllBytes(first.resolve(f.path())), Files.readAllBytes(second.resolve(f.path())));

        IOException e = assertThrows(IOException.class, () -> TokenizeJob.tokenize(spark, spec(threeTasks(first.toString())), false));
        assertTrue(e.getMessage().contains("already exists") && e.getMessage().contains("--overwrite"), e.getMessage());
        Files.writeString(first.resolve("marker"), "old");
        TokenizeJob.tokenize(spark, spec(threeTasks(first.toString())), true);
        assertFalse(Files.exists(first.resolve("marker")), "replaced with --overwrite");
        try (var siblings = Files.list(tmp)) {
            assertTrue(siblings.noneMatch(p -> p.getFileName().toString().startsWith(".run-a")), "no temporary folder left behind");
        }
    }
}
