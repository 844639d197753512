package io.lorafleet.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.lorafleet.model.CausalLm;
import io.lorafleet.model.TokenBatch;
import io.lorafleet.nn.LoraConfig;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A GPT-2 checkpoint in Hugging Face's exact gpt2 layout (src/test/resources/gpt2-tiny, made by
 * src/test/python/make_gpt2_fixture.py) loads, round-trips, and our causal LM's logits match the fixture's
 * independent PyTorch forward on a right-padded batch at every real position.
 */
class Gpt2ParityTest {
    static JsonNode reference;

    @BeforeAll
    static void load() throws IOException {
        reference = new ObjectMapper().readTree(folder().resolve("reference.json").toFile());
    }

    static Path folder() {
        try {
            return Path.of(Gpt2ParityTest.class.getClassLoader().getResource("gpt2-tiny/config.json").toURI()).getParent();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static TokenBatch batch() throws IOException {
        if (reference == null) load();
        JsonNode ids = reference.get("input_ids"), mask = reference.get("attention_mask");
        int b = ids.size(), t = ids.get(0).size();
        int[] inputIds = new int[b * t], attention = new int[b * t];
        for (int i = 0; i < b; i++) {
            for (int j = 0; j < t; j++) {
                inputIds[i * t + j] = ids.get(i).get(j).asInt();
                attention[i * t + j] = mask.get(i).get(j).asInt();
            }
        }
        return new TokenBatch(b, t, inputIds, null, attention, null);
    }

    /** Largest |ours − reference| over real positions. */
    static double maxLogitError(CausalLm model) throws IOException {
        TokenBatch batch = batch();
        INDArray logits = model.logits(batch);
        JsonNode expected = reference.get("logits");
        double worst = 0;
        int vocab = (int) logits.columns();
        int row = 0; // our logits have one row per real token, in order
        for (int b = 0; b < batch.batchSize(); b++) {
            for (int t = 0; t < batch.seqLen(); t++) {
                if (batch.attentionMask()[b * batch.seqLen() + t] == 0) continue;
                for (int v = 0; v < vocab; v++) {
                    worst = Math.max(worst, Math.abs(logits.getDouble(row, v) - expected.get(b).get(t).get(v).asDouble()));
                }
                row++;
            }
        }
        return worst;
    }

    @Test
    void logitsMatchAnIndependentPyTorchForward() throws IOException {
        PretrainedModel model = PretrainedModel.load(new LocalModelFiles(folder()));
        assertEquals(io.lorafleet.model.Architecture.GPT2, model.config().architecture());
        assertEquals(128, model.config().intermediateSize(), "n_inner null means 4·n_embd");
        double error = maxLogitError(CausalLm.create(model.config(), model.weights(), LoraConfig.of(4, 8, List.of("c_attn")), 1));
        System.out.printf("gpt2-tiny vs the independent PyTorch forward: max |Δ logits| %.2e%n", error);
        assertTrue(error < 3e-6, "max |Δ logits| = " + error);
    }

    @Test
    void roundTripsThroughOurWriterInTheSameLayout(@TempDir Path tmp) throws IOException {
        PretrainedModel model = PretrainedModel.load(new LocalModelFiles(folder()));
        Path out = tmp.resolve("gpt2-copy");
        model.writeFolder(out, "{}".getBytes(), false);
        try (SafetensorsReader written = SafetensorsReader.open(java.nio.channels.FileChannel.open(out.resolve("model.safetensors")), "copy");
             SafetensorsReader original = SafetensorsReader.open(java.nio.channels.FileChannel.open(folder().resolve("model.safetensors")), "fixture")) {
            for (String name : written.tensors().keySet()) {
                assertTrue(original.tensors().containsKey(name), name + " is a name HF's gpt2 uses");
                assertTrue(original.read(name).equalsWithEps(written.read(name), 0.0), name + " written in HF's [in, out] layout");
            }
            assertTrue(written.tensors().containsKey("h.0.attn.c_attn.weight"));
        }
        PretrainedModel reloaded = PretrainedModel.load(new LocalModelFiles(out));
        assertEquals(model.config(), reloaded.config());
        assertTrue(maxLogitError(CausalLm.create(reloaded.config(), reloaded.weights(), null, 1)) < 3e-6);
    }
}
