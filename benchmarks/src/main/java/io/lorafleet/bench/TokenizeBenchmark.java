package io.lorafleet.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.lorafleet.datasets.DatasetSpec;
import io.lorafleet.datasets.Manifest;
import io.lorafleet.datasets.TextTokenizer;
import io.lorafleet.spark.TokenizeJob;
import org.apache.spark.sql.SparkSession;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * {@code lorafleet bench tokenize}: the tokenize job on the full IMDB set (49,580 reviews) in local[2],
 * next to the tokenizer alone on one thread (no Spark, no IO) as the reference, in the same run; then the same
 * reviews as one small JSON file each (what thousands of small files cost).
 * Arguments: repository root, the command line to print, imdb.jsonl, scratch output folder.
 */
public final class TokenizeBenchmark {
    public static void main(String[] args) throws Exception {
        Path root = Path.of(args[0]), imdb = Path.of(args[2]), model = ImdbTokenizeConf.tokenizer(root);
        String command = args[1], output = args[3];
        int maxLength = 128;

        List<String> texts = new ArrayList<>();
        ObjectMapper json = new ObjectMapper();
        for (String line : Files.readAllLines(imdb, StandardCharsets.UTF_8)) if (!line.isBlank()) texts.add(json.readTree(line).get("text").asText());
        long refTokens = 0;
        long t0 = System.nanoTime();
        try (TextTokenizer t = TextTokenizer.fromJson(Files.readAllBytes(model.resolve("tokenizer.json")), maxLength, "tokenizer.json")) {
            for (String text : texts) refTokens += t.encode(text).length();
        }
        double refSeconds = (System.nanoTime() - t0) / 1e9;

        SparkSession spark = SparkSession.builder().master("local[2]").appName("lorafleet bench tokenize").config("spark.ui.enabled", "false").getOrCreate();
        DatasetSpec spec = ImdbTokenizeConf.load(root, imdb, maxLength, Path.of(output), "bytes_per_split=8388608");
        t0 = System.nanoTime();
        Manifest m = TokenizeJob.tokenize(spark, spec, true);
        double jobSeconds = (System.nanoTime() - t0) / 1e9;

        // the same reviews as one small JSON file each, as e-mail and document corpora come
        Path files = Path.of(output + "-files");
        if (!Files.exists(files.resolve("_COMPLETE"))) {
            Files.createDirectories(files);
            List<String> lines = Files.readAllLines(imdb, StandardCharsets.UTF_8).stream().filter(l -> !l.isBlank()).toList();
            for (int i = 0; i < lines.size(); i++) Files.writeString(files.resolve(String.format("review-%06d.json", i)), lines.get(i));
            Files.writeString(files.resolve("_COMPLETE"), "");
        }
        DatasetSpec filesSpec = ImdbTokenizeConf.load(root, files, maxLength, Path.of(output + "-from-files"), "tasks.0.format=json");
        t0 = System.nanoTime();
        Manifest fromFiles = TokenizeJob.tokenize(spark, filesSpec, true);
        double filesSeconds = (System.nanoTime() - t0) / 1e9;
        spark.stop();
        if (!fromFiles.adapters().equals(m.adapters())) throw new IllegalStateException("one file per review gave other rows than one JSONL file");
        long jobTokens = m.shards().stream().mapToLong(Manifest.ShardFile::tokens).sum();

        StringBuilder s = new StringBuilder("## Tokenize: the full IMDB set into Parquet shards\n\n");
        s.append(BenchmarkReport.machine()).append(".\n\nCommand: `").append(command).append("`. ").append(String.format(Locale.ROOT,
                "%,d reviews (%.0f MB of JSONL), all-MiniLM-L6-v2 tokenizer, max_length %d. The job reads, validates, tokenizes and writes "
                        + "zstd Parquet shards + manifest (the file read in 8 MiB ranges); the reference runs only the tokenizer on one "
                        + "thread over texts already in memory. The last row reads each review from a file of its own (the same rows, checked).\n\n", texts.size(), Files.size(imdb) / 1e6, maxLength));
        s.append("| what | rows | tokens | seconds | rows/s | tokens/s |\n|---|---|---|---|---|---|\n");
        s.append(row("tokenizer alone, 1 thread (reference)", texts.size(), refTokens, refSeconds));
        s.append(row("`lorafleet tokenize`, local[2]", m.rowsRead(), jobTokens, jobSeconds));
        s.append(row(String.format(Locale.ROOT, "`lorafleet tokenize`, local[2], the same reviews as %,d JSON files (format json)",
                fromFiles.sources().size()), fromFiles.rowsRead(), jobTokens, filesSeconds));
        s.append(String.format(Locale.ROOT, "\nJob throughput / one-thread tokenizer: %.2f×.\n", (m.rowsRead() / jobSeconds) / (texts.size() / refSeconds)));
        System.out.print(s);
        BenchmarkReport.writeSection(root.resolve("BENCHMARKS.md"), "tokenize", s.toString());
    }

    private static String row(String what, long rows, long tokens, double seconds) {
        return String.format(Locale.ROOT, "| %s | %,d | %,d | %.1f | %,.0f | %,.0f |%n", what, rows, tokens, seconds, rows / seconds, tokens / seconds);
    }
}
