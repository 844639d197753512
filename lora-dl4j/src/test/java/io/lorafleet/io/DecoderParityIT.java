package io.lorafleet.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.lorafleet.model.Architecture;
import io.lorafleet.model.CausalLm;
import io.lorafleet.model.TokenBatch;
import io.lorafleet.nn.LoraConfig;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Tiny random LlamaForCausalLM, MistralForCausalLM and Qwen2ForCausalLM made and saved by transformers 5.17 itself
 * (src/test/python/make_tiny_decoders.py, run here with deploy/hf/venv.sh's Python) load, and our logits match
 * transformers' at every real position of a right-padded batch; the configs we write read back the same.
 */
class DecoderParityIT {
    @TempDir
    static Path models;

    @BeforeAll
    static void makeModelsWithTransformers() throws Exception {
        Process venv = new ProcessBuilder("bash", Path.of("../deploy/hf/venv.sh").toAbsolutePath().toString())
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String python = new String(venv.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip().lines().reduce((a, b) -> b).orElse("");
        assertTrue(venv.waitFor(20, TimeUnit.MINUTES) && venv.exitValue() == 0, "deploy/hf/venv.sh failed");
        Path log = models.resolve("make.log");
        Process make = new ProcessBuilder(python, Path.of("src/test/python/make_tiny_decoders.py").toAbsolutePath().toString(), models.toString())
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        assertTrue(make.waitFor(10, TimeUnit.MINUTES) && make.exitValue() == 0, "make_tiny_decoders.py failed:\n" + Files.readString(log));
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "mistral", "qwen2"})
    void logitsMatchTransformers(String name) throws IOException {
        Path folder = models.resolve(name);
        PretrainedModel model = PretrainedModel.load(new LocalModelFiles(folder));
        assertEquals(Architecture.ofModelType(name), model.config().architecture());
        // an adapter on every projection, B = 0: the logits are the base model's
        CausalLm lm = CausalLm.create(model.config(), model.weights(), LoraConfig.of(4, 8, List.of(LoraConfig.ALL_LINEAR)), 1);
        double error = maxLogitError(lm, folder);
        System.out.printf("%s vs transformers: max |Δ logits| %.2e%n", name, error);
        assertTrue(error <= 1e-5, name + ": max |Δ logits| = " + error);

        assertEquals(model.config(), HfConfig.parse(HfConfig.write(model.config()), "written"), "the config we write reads back the same");
    }

    @org.junit.jupiter.api.Test
    void logitsMatchTransformersAtPositionsNear2000() throws IOException {
        // rotary angles there: position × frequency in float32, as transformers rounds them (in float64 the logits were ~1e-4 off)
        Path folder = models.resolve("llama");
        PretrainedModel model = PretrainedModel.load(new LocalModelFiles(folder));
        JsonNode reference = new ObjectMapper().readTree(folder.resolve("long_reference.json").toFile());
        int[] ids = new int[reference.get("input_ids").size()], mask = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = reference.get("input_ids").get(i).asInt();
            mask[i] = 1;
        }
        INDArray logits = CausalLm.frozen(model.config(), model.weights()).logits(new TokenBatch(1, ids.length, ids, null, mask, null));
        JsonNode expected = reference.get("last_logits");
        double worst = 0;
        for (int r = 0; r < expected.size(); r++) {
            long row = ids.length - expected.size() + r;
            for (int v = 0; v < logits.columns(); v++) worst = Math.max(worst, Math.abs(logits.getDouble(row, v) - expected.get(r).get(v).asDouble()));
        }
        System.out.printf("llama at positions %d-%d vs transformers: max |Δ logits| %.2e%n", ids.length - expected.size(), ids.length - 1, worst);
        assertTrue(worst <= 1e-5, "max |Δ logits| = " + worst);
    }

    /** Largest |ours − transformers'| over the real positions of the reference batch. */
    static double maxLogitError(CausalLm model, Path folder) throws IOException {
        JsonNode reference = new ObjectMapper().readTree(folder.resolve("reference.json").toFile());
        JsonNode ids = reference.get("input_ids"), mask = reference.get("attention_mask"), expected = reference.get("logits");
        int b = ids.size(), t = ids.get(0).size();
        int[] inputIds = new int[b * t], attention = new int[b * t];
        for (int i = 0; i < b; i++) {
            for (int j = 0; j < t; j++) {
                inputIds[i * t + j] = ids.get(i).get(j).asInt();
                attention[i * t + j] = mask.get(i).get(j).asInt();
            }
        }
        INDArray logits = model.logits(new TokenBatch(b, t, inputIds, null, attention, null));
        double worst = 0;
        int row = 0;
        for (int i = 0; i < b; i++) {
            for (int j = 0; j < t; j++) {
                if (attention[i * t + j] == 0) continue;
                for (int v = 0; v < logits.columns(); v++) worst = Math.max(worst, Math.abs(logits.getDouble(row, v) - expected.get(i).get(j).get(v).asDouble()));
                row++;
            }
        }
        assertEquals(row, logits.rows(), "one row of logits per real token");
        return worst;
    }
}
