package io.lorafleet.spark;

import io.lorafleet.datasets.Manifest;
import io.lorafleet.datasets.ShardFormat;
import io.lorafleet.datasets.ShardRow;
import io.lorafleet.datasets.TextTokenizer;
import io.lorafleet.io.PretrainedModel;
import io.lorafleet.datasets.Sha256;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.hadoop.util.HadoopInputFile;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** Per-executor-JVM objects that are expensive to build and safe to share between tasks: built once, kept. */
final class ExecutorCache {
    private static final ConcurrentHashMap<String, TextTokenizer> TOKENIZERS = new ConcurrentHashMap<>();
    private static final Map<String, PretrainedModel> MODELS = new ConcurrentHashMap<>();
    private static final Map<String, List<ShardRow>> ROWS = new ConcurrentHashMap<>();

    private ExecutorCache() { }

    static TextTokenizer tokenizer(byte[] json, int maxLength, String source) throws IOException {
        String key = Sha256.of(json) + "/" + maxLength;
        TextTokenizer cached = TOKENIZERS.get(key);
        if (cached != null) return cached;
        synchronized (TOKENIZERS) {
            cached = TOKENIZERS.get(key);
            if (cached == null) {
                cached = TextTokenizer.fromJson(json, maxLength, source);
                TOKENIZERS.put(key, cached);
            }
            return cached;
        }
    }

    /**
     * The frozen base model, loaded once per JVM and kept across rounds and jobs: keyed by its content
     * hash, which the loaded files must match (the driver computed it when the job started).
     */
    static PretrainedModel model(String uri, String sha256, Configuration conf) throws IOException {
        PretrainedModel cached = MODELS.get(sha256);
        if (cached != null) return cached;
        synchronized (MODELS) {
            cached = MODELS.get(sha256);
            if (cached == null) {
                HadoopModelFiles files = new HadoopModelFiles(uri, conf);
                String actual = PretrainedModel.contentHash(files);
                if (!actual.equals(sha256)) {
                    throw new IOException(uri + ": model files changed while the job ran (SHA-256 " + actual + ", the driver saw " + sha256 + ")");
                }
                cached = PretrainedModel.load(files);
                MODELS.put(sha256, cached);
            }
            return cached;
        }
    }

    /** One adapter's rows of one split, in row-id order, each shard file checked against the manifest's SHA-256. */
    static List<ShardRow> rows(String shardsUri, Manifest manifest, String adapter, String split, Configuration conf) throws IOException {
        String key = shardsUri + "|" + adapter + "|" + split + "|" + manifest.shards().stream()
                .filter(f -> f.adapterId().equals(adapter) && f.split().equals(split)).map(Manifest.ShardFile::sha256).toList();
        List<ShardRow> cached = ROWS.get(key);
        if (cached != null) return cached;
        synchronized (ROWS) {
            cached = ROWS.get(key);
            if (cached == null) {
                List<ShardRow> rows = new ArrayList<>();
                for (Manifest.ShardFile f : manifest.shards()) {
                    if (!f.adapterId().equals(adapter) || !f.split().equals(split)) continue;
                    Path path = new Path(shardsUri, f.path());
                    String actual = sha256(path, conf);
                    if (!actual.equals(f.sha256())) throw new IOException(path + ": SHA-256 " + actual + " differs from the manifest's " + f.sha256());
                    ShardFormat.read(HadoopInputFile.fromPath(path, conf), rows::add);
                }
                rows.sort(Comparator.comparingLong(ShardRow::rowId));
                cached = List.copyOf(rows);
                ROWS.put(key, cached);
            }
            return cached;
        }
    }

    private static String sha256(Path path, Configuration conf) throws IOException {
        try (FSDataInputStream in = path.getFileSystem(conf).open(path)) {
            return Sha256.of(in);
        }
    }
}
