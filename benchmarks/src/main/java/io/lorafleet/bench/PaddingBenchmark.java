package io.lorafleet.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.lorafleet.datasets.DatasetSpec;
import io.lorafleet.datasets.Manifest;
import io.lorafleet.datasets.ShardFormat;
import io.lorafleet.datasets.ShardRow;
import io.lorafleet.spark.TokenizeJob;
import io.lorafleet.train.DataOrder;
import org.apache.parquet.io.LocalInputFile;
import org.apache.spark.sql.SparkSession;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code lorafleet bench padding}: training on real batches, where sequences differ in length. The demo's
 * two real tasks (IMDB reviews, Brown-corpus passages) are tokenized by the tokenize job; the first batches
 * of the trainer's seeded order are written as {@link RealBatches} files. The launcher then runs our engine
 * (which packs real tokens and never computes on padding) and the peer, Hugging Face PEFT, padded to each batch's
 * longest sequence and to max_length, each in its own process, and this class writes the report.
 *
 * <p>Usage: PaddingBenchmark prepare REPO_ROOT WORK_DIR BATCHES BATCH_SIZE, then
 * PaddingBenchmark report REPO_ROOT COMMAND_LINE RESULTS_JSONL WORK_DIR
 */
public final class PaddingBenchmark {
    /** The data sets measured: task (adapter id in conf/demo-tokenize.yaml) and max_length. */
    record Data(String task, int maxLength) {
        String fileName() { return task + "-" + maxLength + ".json"; }
    }

    static final List<Data> DATA = List.of(new Data("imdb", 128), new Data("imdb", 512), new Data("brown", 128));

    public static void main(String[] args) throws Exception {
        switch (args[0]) {
            case "prepare" -> prepare(Path.of(args[1]), Path.of(args[2]), Integer.parseInt(args[3]), Integer.parseInt(args[4]));
            case "report" -> report(Path.of(args[1]), args[2], Path.of(args[3]), Path.of(args[4]));
            default -> throw new IllegalArgumentException("usage: PaddingBenchmark prepare|report ...");
        }
    }

    private static void prepare(Path root, Path work, int batches, int batchSize) throws Exception {
        SparkSession spark = SparkSession.builder().master("local[2]").appName("lorafleet bench padding").config("spark.ui.enabled", "false").getOrCreate();
        byte[] spec = Files.readAllBytes(root.resolve("conf/demo-tokenize.yaml"));
        Map<Integer, Manifest> manifests = new LinkedHashMap<>();
        for (Data d : DATA) {
            if (manifests.containsKey(d.maxLength())) continue;
            Path out = work.resolve("shards-" + d.maxLength()).toAbsolutePath();
            manifests.put(d.maxLength(), TokenizeJob.tokenize(spark, DatasetSpec.load(spec, "conf/demo-tokenize.yaml",
                    List.of("max_length=" + d.maxLength(), "output=" + out, "tokenizer=" + root.resolve("runs/models/all-minilm-l6-v2"))), true));
        }
        spark.stop();
        for (Data d : DATA) {
            List<ShardRow> rows = trainRows(work.resolve("shards-" + d.maxLength()).toAbsolutePath(), manifests.get(d.maxLength()), d.task());
            DataOrder order = new DataOrder(rows.size(), batchSize, 1);
            List<RealBatches.Batch> out = new ArrayList<>();
            for (int g = 0; g < batches; g++) {
                int[] picked = order.batch(g);
                int[][] sequences = new int[picked.length][];
                int[] labels = new int[picked.length];
                for (int i = 0; i < picked.length; i++) {
                    sequences[i] = rows.get(picked[i]).inputIds();
                    labels[i] = rows.get(picked[i]).label() % 2; // the benchmark's head has 2 classes; the label only selects a loss term
                }
                out.add(new RealBatches.Batch(sequences, labels));
            }
            new RealBatches(d.task() + ", max_length " + d.maxLength(), d.maxLength(), out).write(work.resolve(d.fileName()));
            System.out.println("wrote " + work.resolve(d.fileName()));
        }
    }

    /** The task's training rows in row-id order, as the train job sees them. */
    private static List<ShardRow> trainRows(Path shards, Manifest manifest, String task) throws Exception {
        List<ShardRow> rows = new ArrayList<>();
        for (Manifest.ShardFile f : manifest.shards()) {
            if (f.adapterId().equals(task) && f.split().equals("train")) ShardFormat.read(new LocalInputFile(shards.resolve(f.path())), rows::add);
        }
        rows.sort(Comparator.comparingLong(ShardRow::rowId));
        return rows;
    }

    private static void report(Path root, String command, Path results, Path work) throws Exception {
        ObjectMapper json = new ObjectMapper();
        Map<String, List<JsonNode>> byData = new LinkedHashMap<>();
        for (String line : Files.readAllLines(results)) {
            if (!line.startsWith("{")) continue;
            JsonNode r = json.readTree(line);
            byData.computeIfAbsent(r.get("dataset").asText(), k -> new ArrayList<>()).add(r);
        }
        StringBuilder s = new StringBuilder("## Real data: no computation on padding\n\n");
        s.append(BenchmarkReport.machine()).append(", OMP_NUM_THREADS=1.\n\n");
        s.append("Command: `").append(command).append("`. The demo's two real tasks tokenized by the tokenize job with the all-MiniLM-L6-v2 "
                + "tokenizer; the first batches of the trainer's seeded order (batch 16) of each; all-MiniLM-L6-v2's shape, LoRA r=8 on query "
                + "and value, a mean-pooled 2-class head, Adam; one training step per batch, median of 3 passes over the batches after 1 warm-up "
                + "pass and at least " + String.format(java.util.Locale.ROOT, "%.0f", EngineStep.WARMUP_SECONDS) + " s of them, each engine in its own process on the same token ids. LoRAFleet packs each batch's real tokens: projections, "
                + "LayerNorm and GELU run on real tokens only and attention per sequence over its own length. The peer is what a user would run "
                + "instead, Hugging Face transformers + PEFT on PyTorch (deploy/bench/peft_engine.py: BertModel with sdpa attention, PEFT's "
                + "LoRA, the attention mask passed as a user passes it, mean pooling over real tokens), each batch padded to its longest "
                + "sequence (dynamic padding, DataCollatorWithPadding) or to max_length (padding=\"max_length\").\n\n");
        s.append("| data | real tokens | engine | padding | tokens computed | ms per batch | real tokens/s | LoRAFleet speed-up | peak RSS MiB |\n");
        s.append("|---|---|---|---|---|---|---|---|---|\n");
        List<String> groups = new ArrayList<>(), series = List.of("LoRAFleet, packed", "PEFT, padded to the longest", "PEFT, padded to max_length");
        List<double[]> ms = new ArrayList<>(), rss = new ArrayList<>();
        for (Data d : DATA) {
            RealBatches batches = RealBatches.read(work.resolve(d.fileName()));
            List<JsonNode> runs = byData.getOrDefault(batches.name(), List.of());
            JsonNode ours = runs.stream().filter(r -> r.get("engine").asText().equals("lorafleet")).findFirst().orElse(null);
            double[] groupMs = {Double.NaN, Double.NaN, Double.NaN}, groupRss = {Double.NaN, Double.NaN, Double.NaN};
            for (JsonNode r : runs) {
                double speedup = ours == null ? Double.NaN : r.get("ms_per_batch").asDouble() / ours.get("ms_per_batch").asDouble();
                s.append(String.format(Locale.ROOT, "| %s | %,d | %s | %s | %,d (%.0f%% padding) | %.0f | %,.0f | %s | %,d |%n", batches.name(),
                        batches.realTokens(), r.get("engine").asText(), r.get("padding").asText(), r.get("computed_tokens").asLong(),
                        100.0 * (1 - (double) batches.realTokens() / r.get("computed_tokens").asLong()), r.get("ms_per_batch").asDouble(),
                        r.get("real_tokens_per_s").asDouble(), r == ours ? "" : String.format(Locale.ROOT, "%.2f×", speedup), r.get("peak_rss_mb").asLong()));
                int k = r == ours ? 0 : r.get("padding").asText().equals("longest") ? 1 : 2;
                groupMs[k] = r.get("ms_per_batch").asDouble();
                groupRss[k] = r.get("peak_rss_mb").asDouble();
            }
            groups.add(batches.name().replace(", max_length ", " at "));
            ms.add(groupMs);
            rss.add(groupRss);
        }
        String svg = BarChart.svg(groups, series, List.of(new BarChart.Panel("Step time per batch", "ms", ms.toArray(double[][]::new)),
                new BarChart.Panel("Peak RSS", "MiB", rss.toArray(double[][]::new))));
        BenchmarkReport.writeFile(root.resolve("bench-plots/padding.svg"), svg);
        s.append("\n![Step time and peak memory per engine, dataset and length](bench-plots/padding.svg)\n");
        System.out.print(s);
        BenchmarkReport.writeSection(root.resolve("BENCHMARKS.md"), "padding", s.toString());
    }
}
