package io.lorafleet.io;

import io.lorafleet.model.BertEncoder;
import io.lorafleet.model.ModelWeights;
import io.lorafleet.model.PackedBatch;
import io.lorafleet.model.TokenBatch;
import io.lorafleet.model.Tuning;
import io.lorafleet.nn.HeldOps;
import io.lorafleet.nn.LoraConfig;
import io.lorafleet.nn.ParamRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The real int8 all-MiniLM-L6-v2 (langchain4j's all-minilm-l6-v2-q jar, onnxruntime's dynamic quantization): imported
 * with int8 projections, written and read back, each projection within half a quantization step of the float model's,
 * and our engine on it against ONNX Runtime running the same int8 export and against the float model.
 */
class QuantizedImportTest {
    private static final String INT8 = "all-minilm-l6-v2-q.onnx", FLOAT = "all-minilm-l6-v2.onnx";

    @TempDir
    static Path dir;

    private static INDArray meanPooled(PretrainedModel model, TokenBatch batch) {
        BertEncoder encoder = new BertEncoder(model.config(), model.weights(), Tuning.lora(LoraConfig.of(1, 1, List.of()), new ParamRegistry(), 1));
        INDArray hidden = encoder.forward(PackedBatch.of(batch));
        INDArray pooled = Nd4j.zeros(DataType.DOUBLE, batch.batchSize(), model.config().hiddenSize());
        int row = 0;
        for (int b = 0; b < batch.batchSize(); b++) {
            int length = batch.length(b);
            for (int t = 0; t < length; t++) pooled.getRow(b).addi(hidden.getRow(row++).castTo(DataType.DOUBLE).divi(length));
        }
        return pooled;
    }

    private static INDArray meanPooled(float[] padded, TokenBatch batch, int d) {
        INDArray all = Nd4j.createFromArray(padded).reshape(batch.rows(), d).castTo(DataType.DOUBLE);
        INDArray pooled = Nd4j.zeros(DataType.DOUBLE, batch.batchSize(), d);
        for (int b = 0; b < batch.batchSize(); b++) {
            for (int t = 0; t < batch.length(b); t++) pooled.getRow(b).addi(all.getRow((long) b * batch.seqLen() + t).divi(batch.length(b)));
        }
        return pooled;
    }

    private static double minCosine(INDArray a, INDArray b) {
        double worst = 1;
        for (int i = 0; i < a.rows(); i++) {
            INDArray x = a.getRow(i), y = b.getRow(i);
            worst = Math.min(worst, x.mul(y).sumNumber().doubleValue() / (x.norm2Number().doubleValue() * y.norm2Number().doubleValue()));
        }
        return worst;
    }

    private static long bytes(ModelWeights w) {
        return w.asMap().values().stream().mapToLong(t -> t.length() * t.dataType().width()).sum();
    }

    @Test
    void theInt8ExportImportsWithInt8ProjectionsAndRunsLikeOnnxRuntimeAndTheFloatModel() throws Exception {
        byte[] int8 = OnnxImportParityTest.resource(INT8);
        Path folder = dir.resolve("minilm-int8"), tokenizer = dir.resolve("tokenizer.json");
        Files.write(tokenizer, OnnxImportParityTest.resource("all-minilm-l6-v2-tokenizer.json"));
        ImportModel.importOnnx(int8, INT8).writeFolder(folder, Files.readAllBytes(tokenizer), false);
        assertTrue(Files.exists(folder.resolve(PretrainedModel.INT8_WEIGHTS)) && !Files.exists(folder.resolve(PretrainedModel.WEIGHTS)),
                "no model.safetensors for transformers to misread as float weights");
        PretrainedModel quantized = PretrainedModel.load(new LocalModelFiles(folder));
        OnnxBertImporter.Imported full = OnnxBertImporter.importGraph(OnnxGraph.parse(ByteBuffer.wrap(OnnxImportParityTest.resource(FLOAT)), FLOAT), FLOAT);
        assertEquals(full.config(), quantized.config());

        List<String> modules = ModelWeights.projectionModules(quantized.config());
        assertEquals(36, modules.size());
        double worstSteps = 0;
        long projectionParams = 0, scales = 0;
        for (String m : modules) {
            INDArray q = quantized.weights().asMap().get(m + ".weight"), scale = quantized.weights().asMap().get(m + ModelWeights.SCALE_SUFFIX);
            assertEquals(DataType.BYTE, q.dataType(), m);
            INDArray w = full.weights().asMap().get(m + ".weight");
            projectionParams += q.length();
            scales += scale.length();
            INDArray steps = HeldOps.columns(HeldOps.Op.DIV, q.castTo(DataType.FLOAT).mulColumnVector(scale).subi(w), scale, Nd4j.create(DataType.FLOAT, w.shape()));
            worstSteps = Math.max(worstSteps, steps.amaxNumber().doubleValue());
        }
        long floatBytes = bytes(full.weights()), int8Bytes = bytes(quantized.weights());
        System.out.printf("int8 MiniLM: projections within %.3f quantization steps of the float model's; weights %,d bytes vs %,d in float32%n",
                worstSteps, int8Bytes, floatBytes);
        assertTrue(worstSteps <= 0.5001, "each int8 weight rounds the float one to its nearest step: off by " + worstSteps + " steps");
        assertEquals(floatBytes - 3 * projectionParams + 4 * scales, int8Bytes, "the projections take a quarter of their float bytes, and nothing else changes");

        TokenBatch batch = OnnxImportParityTest.tokenize(tokenizer, OnnxImportParityTest.sentences());
        // ONNX Runtime runs the export with its activations quantized to uint8 too; we keep activations in float
        INDArray ours = meanPooled(quantized, batch), floatModel = meanPooled(new PretrainedModel(full.config(), full.weights()), batch);
        INDArray ort = meanPooled(OnnxImportParityTest.runOnnxRuntime(int8, batch), batch, 384);
        double againstOrt = minCosine(ours, ort), againstFloat = minCosine(ours, floatModel), ortAgainstFloat = minCosine(ort, floatModel);
        System.out.printf("int8 base, %d sentences, min cosine of mean-pooled embeddings: ours vs the float model %.5f, vs ONNX Runtime on the int8 "
                + "export %.5f; ONNX Runtime's int8 vs the float model %.5f%n", batch.batchSize(), againstFloat, againstOrt, ortAgainstFloat);
        assertTrue(againstFloat > 0.99 && againstFloat > ortAgainstFloat, "closer to the float model than ONNX Runtime's int8 run: " + againstFloat);
        assertTrue(againstOrt > 0.97, "the same int8 model as ONNX Runtime's, up to its activation rounding: " + againstOrt);
    }
}
