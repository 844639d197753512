package io.lorafleet.spark;

import io.lorafleet.io.LocalModelFiles;
import io.lorafleet.io.PretrainedModel;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** import-model writes where it is told (local disk, HDFS, S3), complete or not at all, and checks the output first. */
class ImportModelJobTest {
    @TempDir
    Path tmp;

    /** The real model jar from Maven, as the launcher's build copies it. */
    static Path minilmJar() throws Exception {
        String url = ImportModelJobTest.class.getClassLoader().getResource("all-minilm-l6-v2.onnx").toURI().getSchemeSpecificPart();
        return Path.of(url.replaceFirst("^file:", "").replaceFirst("!/.*$", ""));
    }

    @Test
    void importsTheModelJarToEveryFileSystemAndRefusesToOverwrite() throws Exception {
        String jar = minilmJar().toString();
        Path local = tmp.resolve("models/minilm");
        ImportModelJob.run(new String[] {"--onnx", jar, "--out", local.toString()}, SparkJobs.hadoopConf());
        PretrainedModel model = PretrainedModel.load(new LocalModelFiles(local));
        assertEquals(PretrainedModel.load(new LocalModelFiles(MiniLm.folder())).weights().totalParameters(), model.weights().totalParameters());
        assertArrayEquals(Files.readAllBytes(MiniLm.folder().resolve("model.safetensors")), Files.readAllBytes(local.resolve("model.safetensors")),
                "the same bytes as the test fixture's import");
        try (var files = Files.list(local)) {
            assertEquals(List.of("_COMPLETE", "config.json", "model.safetensors", "tokenizer.json"),
                    files.map(f -> f.getFileName().toString()).sorted().toList(), "no .crc files, no lease left behind");
        }
        assertFalse(Files.exists(tmp.resolve("models/.minilm.lease")));

        long before = Files.getLastModifiedTime(local.resolve("model.safetensors")).toMillis();
        IOException exists = assertThrows(IOException.class, () -> ImportModelJob.run(new String[] {"--onnx", tmp.resolve("missing.jar").toString(),
                "--out", local.toString()}, SparkJobs.hadoopConf()));
        assertTrue(exists.getMessage().contains("already exists (pass --overwrite"), "checked before reading the (missing) source: " + exists.getMessage());
        assertEquals(before, Files.getLastModifiedTime(local.resolve("model.safetensors")).toMillis());

        // a bucket no other test uses: s3a caches one FileSystem per bucket and JVM, bound to the first server's endpoint
        try (MiniHdfs hdfs = new MiniHdfs(tmp.resolve("hdfs")); S3Proxy s3 = new S3Proxy(tmp.resolve("s3"), "imported")) {
            for (var target : List.of(java.util.Map.entry(hdfs.uri() + "/models/minilm", hdfs.conf()), java.util.Map.entry("s3a://imported/minilm", s3.conf()))) {
                Configuration conf = target.getValue();
                ImportModelJob.run(new String[] {"--onnx", "file://" + jar, "--out", target.getKey()}, conf);
                PretrainedModel remote = PretrainedModel.load(new HadoopModelFiles(target.getKey(), conf));
                assertEquals(model.config(), remote.config(), target.getKey());
            }
            assertTrue(Files.exists(s3.bucketFolder("imported").resolve("minilm/model.safetensors")), "written into the bucket, not a local s3a: folder");
        }
        assertFalse(Files.exists(Path.of("s3a:")), "no local folder named after the URI");
    }
}
