package io.lorafleet.io;

import io.lorafleet.model.CausalLm;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;

import static io.lorafleet.nn.ExactArrays.assertBitIdentical;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A Hugging Face folder saved in shards (model.safetensors.index.json) loads as the single file does, and its index is obeyed. */
class ShardedModelTest {
    private static Map<String, INDArray> fixture() throws IOException {
        try (SafetensorsReader r = SafetensorsReader.open(FileChannel.open(Gpt2ParityTest.folder().resolve("model.safetensors")), "fixture")) {
            return r.readAll();
        }
    }

    /** Writes the fixture as two shards (first half of the names, the rest) and an index that maps {@code index}. */
    private static Path sharded(Path dir, Map<String, INDArray> one, Map<String, INDArray> two, Map<String, String> index) throws IOException {
        Files.createDirectories(dir);
        Files.copy(Gpt2ParityTest.folder().resolve("config.json"), dir.resolve("config.json"));
        write(dir.resolve("model-00001-of-00002.safetensors"), one);
        write(dir.resolve("model-00002-of-00002.safetensors"), two);
        StringBuilder json = new StringBuilder("{\"metadata\": {\"total_size\": 0}, \"weight_map\": {");
        index.forEach((k, v) -> json.append(json.charAt(json.length() - 1) == '{' ? "" : ", ").append('"').append(k).append("\": \"").append(v).append('"'));
        Files.writeString(dir.resolve(PretrainedModel.INDEX), json.append("}}"));
        return dir;
    }

    private static void write(Path file, Map<String, INDArray> tensors) throws IOException {
        try (FileChannel c = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            SafetensorsWriter.write(c, tensors, Map.of("format", "pt"));
        }
    }

    @Test
    void shardsLoadBitIdenticalToTheSingleFileAndMatchPyTorch(@TempDir Path tmp) throws IOException {
        Map<String, INDArray> all = fixture();
        Map<String, INDArray> one = new LinkedHashMap<>(), two = new LinkedHashMap<>();
        Map<String, String> index = new LinkedHashMap<>();
        int i = 0;
        for (var e : all.entrySet()) {
            boolean first = i++ < all.size() / 2;
            (first ? one : two).put(e.getKey(), e.getValue());
            index.put(e.getKey(), first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors");
        }
        PretrainedModel single = PretrainedModel.load(new LocalModelFiles(Gpt2ParityTest.folder()));
        PretrainedModel shards = PretrainedModel.load(new LocalModelFiles(sharded(tmp.resolve("ok"), one, two, index)));
        assertEquals(single.config(), shards.config());
        assertEquals(single.weights().asMap().keySet(), shards.weights().asMap().keySet());
        for (String name : single.weights().asMap().keySet()) {
            assertBitIdentical(single.weights().asMap().get(name), shards.weights().asMap().get(name), name);
        }
        assertTrue(Gpt2ParityTest.maxLogitError(CausalLm.create(shards.config(), shards.weights(), null, 1)) < 3e-6);

        // a second copy of a weight in the other shard: the index names one home, and a stray copy is refused, not chosen
        String moved = one.keySet().iterator().next();
        Map<String, INDArray> twoWithCopy = new LinkedHashMap<>(two);
        twoWithCopy.put(moved, all.get(moved).mul(2));
        IOException stray = assertThrows(IOException.class,
                () -> PretrainedModel.load(new LocalModelFiles(sharded(tmp.resolve("stray"), one, twoWithCopy, index))));
        assertTrue(stray.getMessage().contains("model-00002-of-00002.safetensors") && stray.getMessage().contains(moved)
                && stray.getMessage().contains("places in model-00001-of-00002.safetensors"), stray.getMessage());

        // the index lists a tensor no shard holds
        Map<String, INDArray> twoShort = new LinkedHashMap<>(two);
        String dropped = twoShort.keySet().iterator().next();
        twoShort.remove(dropped);
        IOException missing = assertThrows(IOException.class,
                () -> PretrainedModel.load(new LocalModelFiles(sharded(tmp.resolve("missing"), one, twoShort, index))));
        assertTrue(missing.getMessage().contains("do not hold, e.g. " + dropped), missing.getMessage());

        // a shard outside the folder
        Map<String, String> escaping = new LinkedHashMap<>(index);
        escaping.put(moved, "../elsewhere.safetensors");
        IOException outside = assertThrows(IOException.class,
                () -> PretrainedModel.load(new LocalModelFiles(sharded(tmp.resolve("outside"), one, two, escaping))));
        assertTrue(outside.getMessage().contains("leaves the folder"), outside.getMessage());
    }
}
