package io.lorafleet.spark;

import io.lorafleet.datasets.DatasetSpec;
import io.lorafleet.datasets.Manifest;
import io.lorafleet.datasets.ShardFormat;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The tokenize job reading from and writing to a real HDFS (MiniDFSCluster) and a real S3 API (s3proxy via s3a). */
class TokenizeRemoteTest {
    @TempDir
    static java.nio.file.Path tmp;
    static MiniHdfs hdfs;
    static S3Proxy s3;
    static SparkSession spark;

    @BeforeAll
    static void start() throws Exception {
        hdfs = new MiniHdfs(tmp.resolve("hdfs"));
        s3 = new S3Proxy(tmp.resolve("s3"), "data");
        spark = SparkTestSession.get();
        Configuration conf = spark.sparkContext().hadoopConfiguration();
        s3.conf().forEach(e -> conf.set(e.getKey(), e.getValue()));
    }

    @AfterAll
    static void stop() throws Exception {
        if (s3 != null) s3.close();
        if (hdfs != null) hdfs.close();
    }

    void roundTrip(String base) throws IOException {
        Configuration conf = spark.sparkContext().hadoopConfiguration();
        Path input = new Path(base + "/raw/imdb-sample.jsonl");
        FileSystem fs = input.getFileSystem(conf);
        fs.copyFromLocalFile(new Path(TokenizeJobTest.SAMPLE.toUri()), input);
        Path model = new Path(base + "/models/minilm");
        fs.copyFromLocalFile(false, true, new Path(MiniLm.folder().toUri()), model);
        String yaml = """
                tokenizer: %s
                output: %s/shards
                rows_per_file: 400
                tasks:
                  - adapter_id: imdb
                    inputs: ["%s/raw/*.jsonl"]
                    format: jsonl
                    label: label
                    labels: [negative, positive]
                    split_field: split
                """.formatted(model, base, base);
        Manifest m = TokenizeJob.tokenize(spark, DatasetSpec.load(yaml.getBytes(StandardCharsets.UTF_8), "remote.yaml", List.of()), false);
        assertEquals(1000, m.rowsRead());
        Path root = new Path(base + "/shards");
        byte[] manifest = SparkJobs.readFile(base + "/shards/manifest.json", conf);
        assertEquals(m, Manifest.parse(manifest, "manifest.json"));
        AtomicLong rows = new AtomicLong();
        for (Manifest.ShardFile f : m.shards()) {
            ShardFormat.read(HadoopInputFile.fromPath(new Path(root, f.path()), conf), r -> rows.incrementAndGet());
            assertEquals(f.bytes(), fs.getFileStatus(new Path(root, f.path())).getLen());
        }
        assertEquals(1000, rows.get());
        assertTrue(m.sources().get(0).startsWith(base.substring(0, 4)), m.sources().get(0));
    }

    @Test
    void readsAndWritesHdfs() throws IOException {
        roundTrip(hdfs.uri() + "/lorafleet");
    }

    @Test
    void readsAndWritesS3() throws IOException {
        roundTrip("s3a://data/lorafleet");
    }
}
