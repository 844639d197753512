package io.lorafleet.io;

import static io.lorafleet.nn.ExactArrays.assertBitIdentical;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.lorafleet.model.CausalLm;
import io.lorafleet.model.ModelWeights;
import io.lorafleet.model.SequenceClassifier;
import io.lorafleet.model.TokenBatch;
import io.lorafleet.model.TransformerConfig;
import io.lorafleet.nn.LoraConfig;
import io.lorafleet.nn.Param;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** PEFT's adapter format: exact tensor names and shapes, adapter_config.json keys, round trip, merge. */
class PeftAdapterTest {
    @TempDir
    Path tmp;

    /** Every adapter_config.json key PEFT's LoraConfig reads that we write; nothing else. */
    static final TreeSet<String> CONFIG_KEYS = new TreeSet<>(List.of("peft_type", "task_type", "base_model_name_or_path", "r", "lora_alpha",
            "lora_dropout", "target_modules", "bias", "modules_to_save", "fan_in_fan_out", "use_rslora", "use_dora", "init_lora_weights", "rank_pattern",
            "alpha_pattern", "inference_mode"));

    static Map<String, long[]> header(byte[] file) throws IOException {
        SafetensorsTest.validate(file);
        long n = ByteBuffer.wrap(file, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        JsonNode h = new ObjectMapper().readTree(new String(file, 8, (int) n, StandardCharsets.UTF_8));
        Map<String, long[]> shapes = new TreeMap<>();
        h.fields().forEachRemaining(f -> {
            if (f.getKey().equals("__metadata__")) {
                assertEquals("pt", f.getValue().get("format").asText());
                return;
            }
            assertEquals("F32", f.getValue().get("dtype").asText(), f.getKey());
            long[] s = new long[f.getValue().get("shape").size()];
            for (int i = 0; i < s.length; i++) s[i] = f.getValue().get("shape").get(i).asLong();
            shapes.put(f.getKey(), s);
        });
        return shapes;
    }

    static void randomize(io.lorafleet.model.TaskModel model) {
        for (Param p : model.params().params()) p.value().assign(Nd4j.randn(DataType.FLOAT, p.shape()).muli(0.05));
    }

    @Test
    void bertSequenceClassificationUsesPeftsNamesShapesAndConfigKeys() throws IOException {
        TransformerConfig c = TransformerConfig.bert(100, 32, 2, 4, 64, 40);
        SequenceClassifier model = SequenceClassifier.create(c, ModelWeights.random(c, DataType.FLOAT, 1), LoraConfig.of(4, 8, List.of("query", "value")),
                3, SequenceClassifier.Pooling.MEAN, 1);
        PeftAdapter adapter = PeftAdapter.of(model, PeftAdapter.TaskType.SEQ_CLS, LoraConfig.of(4, 8, List.of("query", "value")), "models/minilm");
        Map<String, long[]> shapes = header(adapter.weights(c));
        Map<String, long[]> expected = new TreeMap<>();
        for (int layer = 0; layer < 2; layer++) {
            for (String m : List.of("query", "value")) {
                // PEFT: "base_model.model." + the module's path in BertForSequenceClassification + ".lora_A.weight" (adapter name stripped)
                String module = "base_model.model.bert.encoder.layer." + layer + ".attention.self." + m;
                expected.put(module + ".lora_A.weight", new long[] {4, 32});
                expected.put(module + ".lora_B.weight", new long[] {32, 4});
            }
        }
        expected.put("base_model.model.classifier.weight", new long[] {3, 32}); // modules_to_save, "modules_to_save.default." stripped
        expected.put("base_model.model.classifier.bias", new long[] {3});
        assertEquals(expected.keySet(), shapes.keySet());
        expected.forEach((k, v) -> assertArrayEquals(v, shapes.get(k), k));

        JsonNode config = new ObjectMapper().readTree(adapter.configJson(c));
        TreeSet<String> keys = new TreeSet<>();
        config.fieldNames().forEachRemaining(keys::add);
        assertEquals(CONFIG_KEYS, keys);
        assertEquals("SEQ_CLS", config.get("task_type").asText());
        assertEquals("LORA", config.get("peft_type").asText());
        assertEquals(false, config.get("fan_in_fan_out").asBoolean());
        assertEquals("[\"classifier\"]", config.get("modules_to_save").toString());
        assertEquals(8.0, config.get("lora_alpha").asDouble());
        assertEquals("none", config.get("bias").asText());
    }

    @Test
    void gpt2CausalLmAdaptsTheFusedConv1DWithFanInFanOut() throws Exception {
        PretrainedModel gpt2 = PretrainedModel.load(new LocalModelFiles(Gpt2ParityTest.folder()));
        LoraConfig lora = LoraConfig.of(2, 4, List.of("c_attn"));
        CausalLm model = CausalLm.create(gpt2.config(), gpt2.weights(), lora, 3);
        PeftAdapter adapter = PeftAdapter.of(model, PeftAdapter.TaskType.CAUSAL_LM, lora, "gpt2");
        Map<String, long[]> shapes = header(adapter.weights(gpt2.config()));
        Map<String, long[]> expected = new TreeMap<>();
        for (int layer = 0; layer < 2; layer++) {
            String module = "base_model.model.transformer.h." + layer + ".attn.c_attn"; // GPT2LMHeadModel's path
            expected.put(module + ".lora_A.weight", new long[] {2, 32});                // [r, in]
            expected.put(module + ".lora_B.weight", new long[] {96, 2});                // [out = 3·d, r]
        }
        assertEquals(expected.keySet(), shapes.keySet());
        expected.forEach((k, v) -> assertArrayEquals(v, shapes.get(k), k));
        JsonNode config = new ObjectMapper().readTree(adapter.configJson(gpt2.config()));
        assertTrue(config.get("fan_in_fan_out").asBoolean());
        assertTrue(config.get("modules_to_save").isNull());
        assertEquals("CAUSAL_LM", config.get("task_type").asText());
    }

    Path writeFolder(PeftAdapter adapter, TransformerConfig c, boolean complete) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("adapter-" + complete));
        Files.write(dir.resolve(PeftAdapter.WEIGHTS), adapter.weights(c));
        Files.write(dir.resolve(PeftAdapter.CONFIG), adapter.configJson(c));
        if (complete) Files.write(dir.resolve(PeftAdapter.COMPLETE), new byte[0]);
        return dir;
    }

    @Test
    void roundTripGivesIdenticalTensorsAndAFolderWithoutItsMarkerIsRefused() throws IOException {
        TransformerConfig c = TransformerConfig.bert(100, 32, 2, 4, 64, 40);
        LoraConfig lora = new LoraConfig(4, 8, 0.1, List.of("query", "value", "output.dense"), true, LoraConfig.Init.GAUSSIAN,
                Map.of("value", 2), Map.of("value", 3.0), false);
        SequenceClassifier model = SequenceClassifier.create(c, ModelWeights.random(c, DataType.FLOAT, 1), lora, 2, SequenceClassifier.Pooling.CLS, 1);
        randomize(model);
        PeftAdapter adapter = PeftAdapter.of(model, PeftAdapter.TaskType.SEQ_CLS, lora, "base");
        PeftAdapter back = PeftAdapter.read(new LocalModelFiles(writeFolder(adapter, c, true)), c);
        assertEquals(lora, back.lora());
        assertEquals(adapter.modulesToSave(), back.modulesToSave());
        assertEquals(adapter.tensors().keySet(), back.tensors().keySet());
        adapter.tensors().forEach((k, v) -> assertBitIdentical(v, back.tensors().get(k), k));

        IOException e = assertThrows(IOException.class, () -> PeftAdapter.read(new LocalModelFiles(writeFolder(adapter, c, false)), c));
        assertTrue(e.getMessage().contains("_COMPLETE") && e.getMessage().contains("incomplete"), e.getMessage());
    }

    @Test
    void mergedWeightsAsAPlainModelGiveTheAdapterModelsLogits() throws Exception {
        PretrainedModel gpt2 = PretrainedModel.load(new LocalModelFiles(Gpt2ParityTest.folder()));
        LoraConfig lora = LoraConfig.of(2, 4, List.of("c_attn", "c_fc"));
        CausalLm adapted = CausalLm.create(gpt2.config(), gpt2.weights(), lora, 3);
        randomize(adapted);
        TokenBatch batch = Gpt2ParityTest.batch();
        INDArray expected = adapted.logits(batch).dup();
        PeftAdapter adapter = PeftAdapter.of(adapted, PeftAdapter.TaskType.CAUSAL_LM, lora, "gpt2");

        PretrainedModel copy = PretrainedModel.load(new LocalModelFiles(Gpt2ParityTest.folder()));
        adapter.mergeInto(copy.weights(), copy.config());
        Path merged = tmp.resolve("merged");
        copy.writeFolder(merged, "{}".getBytes(), false);
        PretrainedModel plain = PretrainedModel.load(new LocalModelFiles(merged));
        CausalLm base = CausalLm.create(plain.config(), plain.weights(), LoraConfig.of(1, 1, List.of("c_proj")), 3); // B = 0: no effect
        INDArray actual = base.logits(batch);
        double worst = Transforms.abs(actual.sub(expected)).maxNumber().doubleValue(); // one row per real token
        assertTrue(worst < 1e-5, "merged vs adapter logits: max |Δ| = " + worst);
        assertTrue(Transforms.abs(expected.sub(CausalLm.create(gpt2.config(), PretrainedModel.load(new LocalModelFiles(Gpt2ParityTest.folder())).weights(),
                null, 3).logits(batch))).maxNumber().doubleValue() > 1e-3, "the adapter changes the model");
    }

    @Test
    void doraAndAdaptersStartedFromWeightExportAsPlainLoraOnTheOriginalBaseWithTheirLogits() throws Exception {
        TokenBatch batch = Gpt2ParityTest.batch();
        for (LoraConfig.Init init : List.of(LoraConfig.Init.PISSA, LoraConfig.Init.OLORA)) {
            PretrainedModel gpt2 = PretrainedModel.load(new LocalModelFiles(Gpt2ParityTest.folder()));
            LoraConfig lora = new LoraConfig(2, 4, 0, List.of("c_attn", "c_fc"), false, init, Map.of(), Map.of(), true);
            CausalLm adapted = CausalLm.create(gpt2.config(), gpt2.weights(), lora, 3);
            assertTrue(Transforms.abs(adapted.logits(batch).sub(CausalLm.create(gpt2.config(), gpt2.weights(), null, 3).logits(batch)))
                    .maxNumber().doubleValue() < 1e-4, init + ": starts as the base model");
            for (Param p : adapted.params().params()) p.value().addi(Nd4j.randn(DataType.FLOAT, p.shape()).muli(0.05)); // trained
            INDArray expected = adapted.logits(batch).dup();

            PeftAdapter adapter = PeftAdapter.of(adapted, PeftAdapter.TaskType.CAUSAL_LM, lora, "gpt2");
            PeftAdapter back = PeftAdapter.read(new LocalModelFiles(writeFolder(adapter, gpt2.config(), true)), gpt2.config());
            assertEquals(new LoraConfig(4, 8, 0, List.of("c_attn", "c_fc"), false, LoraConfig.Init.KAIMING_UNIFORM, Map.of(), Map.of(), true), back.lora(),
                    init + ": PEFT's converted export, twice the rank and alpha");
            assertTrue(back.tensors().containsKey("h.0.attn.c_attn.lora_magnitude_vector"), back.tensors().keySet().toString());
            CausalLm loaded = CausalLm.create(gpt2.config(), PretrainedModel.load(new LocalModelFiles(Gpt2ParityTest.folder())).weights(), back.lora(), 3);
            back.loadInto(loaded, "back");
            double worst = Transforms.abs(loaded.logits(batch).sub(expected)).maxNumber().doubleValue();
            assertTrue(worst < 1e-4, init + ": the export on the original base, max |Δ| = " + worst);

            PretrainedModel copy = PretrainedModel.load(new LocalModelFiles(Gpt2ParityTest.folder()));
            back.mergeInto(copy.weights(), copy.config());
            worst = Transforms.abs(CausalLm.create(copy.config(), copy.weights(), null, 3).logits(batch).sub(expected)).maxNumber().doubleValue();
            assertTrue(worst < 1e-4, init + ": merged, max |Δ| = " + worst);
        }
    }

    @Test
    void anAdapterPeftSavedForAChangedBaseIsRefused() throws IOException {
        TransformerConfig c = TransformerConfig.bert(100, 32, 2, 4, 64, 40);
        LoraConfig lora = LoraConfig.of(4, 8, List.of("query"));
        SequenceClassifier model = SequenceClassifier.create(c, ModelWeights.random(c, DataType.FLOAT, 1), lora, 2, SequenceClassifier.Pooling.CLS, 1);
        Path dir = writeFolder(PeftAdapter.of(model, PeftAdapter.TaskType.SEQ_CLS, lora, "base"), c, true);
        String config = Files.readString(dir.resolve(PeftAdapter.CONFIG));
        Files.writeString(dir.resolve(PeftAdapter.CONFIG), config.replace("\"init_lora_weights\" : true", "\"init_lora_weights\" : \"pissa\""));
        IOException e = assertThrows(IOException.class, () -> PeftAdapter.read(new LocalModelFiles(dir), c));
        assertTrue(e.getMessage().contains("pissa") && e.getMessage().contains("path_initial_model_for_weight_conversion"), e.getMessage());
    }
}
