package io.lorafleet.spark;

import io.lorafleet.io.LocalModelFiles;
import io.lorafleet.io.PretrainedModel;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.FileUtil;
import org.apache.hadoop.fs.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.nio.file.Files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The same real model folder loads bit-identically from the local disk, HDFS (MiniDFSCluster) and S3 (s3proxy via s3a). */
class HadoopModelFilesTest {
    @TempDir
    static java.nio.file.Path tmp;
    static MiniHdfs hdfs;
    static S3Proxy s3;
    static PretrainedModel local;

    @BeforeAll
    static void start() throws Exception {
        hdfs = new MiniHdfs(tmp.resolve("hdfs"));
        s3 = new S3Proxy(tmp.resolve("s3"), "models");
        local = PretrainedModel.load(new LocalModelFiles(MiniLm.folder()));
    }

    @AfterAll
    static void stop() throws Exception {
        if (s3 != null) s3.close();
        if (hdfs != null) hdfs.close();
    }

    private static void upload(Configuration conf, String uri) throws IOException {
        Path target = new Path(uri);
        FileSystem fs = target.getFileSystem(conf);
        FileSystem local = FileSystem.getLocal(new Configuration());
        for (var f : local.listStatus(new Path(MiniLm.folder().toUri()))) {
            FileUtil.copy(local, f.getPath(), fs, new Path(target, f.getPath().getName()), false, conf);
        }
    }

    private static void assertSameModel(PretrainedModel loaded) {
        assertEquals(local.config(), loaded.config());
        assertEquals(local.weights().names(), loaded.weights().names());
        for (String name : local.weights().names()) {
            INDArray a = local.weights().asMap().get(name), b = loaded.weights().asMap().get(name);
            assertTrue(a.equalsWithEps(b, 0.0), name);
        }
    }

    @Test
    void loadsFromHdfs() throws Exception {
        String uri = hdfs.uri() + "/models/minilm";
        upload(hdfs.conf(), uri);
        HadoopModelFiles files = new HadoopModelFiles(uri, hdfs.conf());
        assertSameModel(PretrainedModel.load(files));
        assertTrue(files.describe("config.json").startsWith("hdfs://127.0.0.1:"), files.describe("config.json"));
    }

    @Test
    void loadsFromS3() throws Exception {
        String uri = "s3a://models/minilm";
        upload(s3.conf(), uri);
        assertTrue(Files.exists(s3.bucketFolder("models").resolve("minilm/model.safetensors")), "object landed in the bucket");
        assertSameModel(PretrainedModel.load(new HadoopModelFiles(uri, s3.conf())));
    }

    @Test
    void loadsFromAFileUri() throws Exception {
        assertSameModel(PretrainedModel.load(new HadoopModelFiles(MiniLm.folder().toUri().toString(), new Configuration())));
    }

    @Test
    void aMissingOrTruncatedFileIsNamedWithItsUri() throws Exception {
        String uri = hdfs.uri() + "/models/broken";
        upload(hdfs.conf(), uri);
        FileSystem fs = new Path(uri).getFileSystem(hdfs.conf());
        byte[] weights = Files.readAllBytes(MiniLm.folder().resolve("model.safetensors"));
        try (var out = fs.create(new Path(uri, "model.safetensors"), true)) {
            out.write(weights, 0, weights.length / 2);
        }
        HadoopModelFiles files = new HadoopModelFiles(uri, hdfs.conf());
        IOException truncated = assertThrows(IOException.class, () -> PretrainedModel.load(files));
        assertTrue(truncated.getMessage().contains(uri + "/model.safetensors"), truncated.getMessage());

        fs.delete(new Path(uri, "config.json"), false);
        assertFalse(files.exists("config.json"));
        IOException missing = assertThrows(IOException.class, () -> PretrainedModel.load(files));
        assertTrue(missing.getMessage().contains(uri + "/config.json"), missing.getMessage());
    }
}
