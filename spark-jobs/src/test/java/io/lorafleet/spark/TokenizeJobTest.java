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

    @Test
    void oneAdapterDrawsOnSeveralInputsAndFormatsEachWithItsOwnSplitLabelsTemplateAndLength() throws IOException {
        // reviews: its train split from the CSV (labels as they are), its test split from JSONL with star ratings
        // mapped to labels (3 stars is not mapped: quarantined) and a title + body template, cut to 64 tokens;
        // short: the Parquet rows at 32 tokens
        java.nio.file.Path stars = tmp.resolve("stars.jsonl");
        List<String> lines = new ArrayList<>();
        for (int i = 400; i < 460; i++) {
            JsonNode r = sample.get(i);
            String rating = i % 10 == 0 ? "3" : r.get("label").asText().equals("positive") ? (i % 2 == 0 ? "5" : "4") : (i % 2 == 0 ? "1" : "2");
            lines.add(JSON.writeValueAsString(Map.of("title", "Review " + i, "body", r.get("text").asText(), "stars", rating)));
        }
        Files.write(stars, lines);
        java.nio.file.Path out = tmp.resolve("several-inputs");
        Manifest m = TokenizeJob.tokenize(spark, spec("""
                tokenizer: %s
                output: %s
                max_bad_fraction: 0.2
                tasks:
                  - adapter_id: reviews
                    inputs: [%s]
                    format: csv
                    text: review
                    label: sentiment
                    labels: [negative, positive]
                    split: train
                  - adapter_id: reviews
                    inputs: [%s]
                    format: jsonl
                    template: "{title}: {body}"
                    label: stars
                    labels: [negative, positive]
                    label_map: {"1": negative, "2": negative, "4": positive, "5": positive}
                    split: test
                    max_length: 64
                    truncation: head_tail
                  - adapter_id: short
                    inputs: ["%s/*.parquet"]
                    format: parquet
                    text: body
                    labels: [negative, positive]
                    label: label
                    max_length: 32
                """.formatted(MiniLm.folder(), out, csv, stars, parquet)), false);
        assertEquals(Map.of("train", 200L, "test", 54L), m.adapters().get("reviews").rows());
        assertEquals(Map.of("unknown_label", 6L), m.droppedByReason());
        assertEquals(128, m.maxLength("reviews"), "the longest of its tasks' lengths");
        assertEquals(32, m.maxLength("short"));
        Map<String, List<ShardRow>> rows = readShards(out, m);
        assertTrue(rows.get("short").stream().allMatch(r -> r.length() <= 32));
        assertTrue(rows.get("reviews").stream().anyMatch(r -> r.split().equals("train") && r.length() == 128), "the CSV task keeps the spec's 128");
        List<ShardRow> test = rows.get("reviews").stream().filter(r -> r.split().equals("test")).toList();
        assertTrue(test.stream().allMatch(r -> r.length() <= 64) && test.stream().anyMatch(r -> r.length() == 64));
        try (TextTokenizer t = TextTokenizer.fromJson(Files.readAllBytes(MiniLm.folder().resolve("tokenizer.json")), 1 << 20, "t")) {
            JsonNode first = JSON.readTree(lines.get(1)); // line 1 is 3 stars
            TextTokenizer.Encoded whole = t.encode(first.get("title").asText() + ": " + first.get("body").asText());
            ShardRow row = test.stream().filter(r -> r.line() == 2).findFirst().orElseThrow();
            assertArrayEquals(whole.truncated(64, io.lorafleet.datasets.DatasetSpec.Truncation.HEAD_TAIL).ids(), row.inputIds());
            assertEquals(first.get("stars").asText().compareTo("3") > 0 ? 1 : 0, row.label());
        }
        List<String> quarantined = Files.readAllLines(out.resolve("_quarantine.jsonl"));
        assertEquals(6, quarantined.size());
        assertTrue(quarantined.stream().allMatch(l -> l.contains("\"value\":\"3\"")), quarantined.get(0));
    }

    @Test
    void thousandsOfSmallFilesAreReadManyToASparkTaskAndGiveTheRowsOfOneFile() throws IOException {
        java.nio.file.Path folder = tmp.resolve("small-files");
        Files.createDirectories(folder);
        List<String> all = Files.readAllLines(SAMPLE);
        for (int i = 0; i < all.size(); i++) { // one pretty-printed JSON object per file, as e-mail corpora come
            Files.writeString(folder.resolve(String.format("review-%04d.json", i)), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(JSON.readTree(all.get(i))));
        }
        String yaml = """
                tokenizer: %s
                output: %s
                tasks:
                  - adapter_id: imdb
                    inputs: [%s]
                    format: %s
                    labels: [negative, positive]
                    label: label
                    split_field: split
                """;
        Manifest many = TokenizeJob.tokenize(spark, spec(yaml.formatted(MiniLm.folder(), tmp.resolve("from-many"), folder, "json")), false);
        Manifest one = TokenizeJob.tokenize(spark, spec(yaml.formatted(MiniLm.folder(), tmp.resolve("from-one"), SAMPLE, "jsonl")), false);
        assertEquals(1000, many.sources().size());
        assertEquals(one.adapters(), many.adapters(), "the same rows, tokens, labels and lengths");
        Map<String, List<ShardRow>> a = readShards(tmp.resolve("from-many"), many), b = readShards(tmp.resolve("from-one"), one);
        java.util.function.Function<List<ShardRow>, List<String>> content = rows -> rows.stream()
                .map(r -> r.split() + "/" + r.label() + "/" + java.util.Arrays.toString(r.inputIds())).toList();
        assertEquals(content.apply(b.get("imdb")), content.apply(a.get("imdb")), "in the same order (file names follow the lines)");

    }

    @Test
    void theTaskOptionsExampleInConfRunsOnTheRealSamples() throws IOException {
        java.nio.file.Path root = SAMPLE.getParent().getParent().getParent().getParent();
        java.nio.file.Path out = tmp.resolve("tasks-example");
        DatasetSpec spec = DatasetSpec.load(Files.readAllBytes(root.resolve("conf/tasks-tokenize.yaml")), "conf/tasks-tokenize.yaml",
                List.of("output=" + out, "tokenizer=" + MiniLm.folder(), "tasks.0.inputs=[" + SAMPLE + "]",
                        "tasks.1.inputs=[" + root.resolve("datasets/brown/sample/brown-sample.jsonl") + "]"));
        Manifest m = TokenizeJob.tokenize(spark, spec, false);
        assertEquals(0, m.rowsQuarantined(), "every genre is mapped");
        assertEquals(256, m.maxLength("imdb-long"));
        assertEquals(List.of("fiction", "nonfiction"), m.adapters().get("brown-fiction").labels());
        Map<String, Map<String, Long>> histogram = m.adapters().get("brown-fiction").labelHistogram();
        assertEquals(java.util.Set.of("train", "test"), histogram.keySet());
        assertTrue(histogram.get("train").get("fiction") > 100 && histogram.get("train").get("nonfiction") > 100, histogram.toString());
        long longest = readShards(out, m).get("imdb-long").stream().mapToLong(ShardRow::length).max().orElseThrow();
        assertEquals(256, longest, "long reviews are cut to the task's own max_length");
    }
}
