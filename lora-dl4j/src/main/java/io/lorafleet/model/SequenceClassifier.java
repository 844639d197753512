package io.lorafleet.model;

import io.lorafleet.nn.Initializer;
import io.lorafleet.nn.Linear;
import io.lorafleet.nn.LoraConfig;
import io.lorafleet.nn.LoraLinear;
import io.lorafleet.nn.ParamRegistry;
import io.lorafleet.nn.SoftmaxCrossEntropy;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;

/** Body → pooled sequence vector (the first token's, or the mean over real tokens) → trainable linear classifier. */
public final class SequenceClassifier implements TaskModel {
    public enum Pooling { CLS, MEAN }

    private final Body body;
    private final Pooling pooling;
    private final Linear classifier; // [labels, d], trainable ("classifier" in PEFT's modules_to_save)
    private final ParamRegistry params;
    private final List<LoraLinear> loraLayers;
    private final SoftmaxCrossEntropy loss = new SoftmaxCrossEntropy();
    private TokenBatch batch;
    private INDArray poolWeights; // [B, T]: which tokens each pooled vector averages, and with what weight

    private SequenceClassifier(Body body, Pooling pooling, Linear classifier, Tuning tuning) {
        this.body = body;
        this.pooling = pooling;
        this.classifier = classifier;
        this.params = tuning.registry();
        this.loraLayers = tuning.loraLayers();
    }

    /**
     * Builds the model and allocates its trainable tensors.
     *
     * @param lora LoRA settings, or null for full fine-tuning (every pretrained tensor trainable)
     */
    public static SequenceClassifier create(TransformerConfig config, ModelWeights weights, LoraConfig lora,
                                            int numLabels, Pooling pooling, long seed) {
        if (numLabels < 2) throw new IllegalArgumentException("num_labels must be >= 2, got " + numLabels);
        ParamRegistry registry = new ParamRegistry();
        Tuning tuning = lora == null ? Tuning.fullFineTuning(registry, seed) : Tuning.lora(lora, registry, seed);
        Body body = config.modelType().equals("bert") ? new BertEncoder(config, weights, tuning) : new Gpt2Decoder(config, weights, tuning);
        tuning.checkTargetsMatched();
        long d = config.hiddenSize();
        Linear head = new Linear(tuning.head("classifier.weight", new long[] {numLabels, d}, Initializer.gaussian(0.02)),
                tuning.head("classifier.bias", new long[] {numLabels}, Initializer.ZEROS));
        registry.allocate(weights.dataType(), seed);
        return new SequenceClassifier(body, pooling, head, tuning);
    }

    @Override
    public double forwardBackward(TokenBatch batch) {
        INDArray logits = logits(batch);
        double value = loss.forward(logits, batch.labels());
        INDArray dpooled = classifier.backward(loss.backward(), true);
        body.backward(unpool(dpooled));
        return value;
    }

    @Override
    public double loss(TokenBatch batch) {
        return new SoftmaxCrossEntropy().forward(logits(batch), batch.labels());
    }

    @Override
    public INDArray logits(TokenBatch batch) {
        this.batch = batch;
        INDArray hidden = body.forward(batch);
        return classifier.forward(pool(hidden));
    }

    private INDArray pool(INDArray hidden) { // [B·T, d] → [B, d]
        int b = batch.batchSize(), t = batch.seqLen();
        poolWeights = Nd4j.create(hidden.dataType(), b, t);
        if (pooling == Pooling.CLS) {
            poolWeights.getColumn(0).assign(1.0);
        } else {
            poolWeights.assign(batch.maskArray(hidden.dataType()));
            INDArray counts = poolWeights.sum(1).reshape(b, 1);
            poolWeights.diviColumnVector(Nd4j.getExecutioner().exec(new org.nd4j.linalg.api.ops.impl.scalar.ScalarMax(counts, 1.0)));
        }
        INDArray pooled = Nd4j.create(hidden.dataType(), b, 1, hidden.columns());
        Nd4j.matmul(poolWeights.reshape(b, 1, t), hidden.reshape(b, t, hidden.columns()), pooled);
        return pooled.reshape(b, hidden.columns());
    }

    private INDArray unpool(INDArray dpooled) { // [B, d] → [B·T, d]
        int b = batch.batchSize(), t = batch.seqLen();
        INDArray dHidden = Nd4j.create(dpooled.dataType(), b, t, dpooled.columns());
        Nd4j.matmul(poolWeights.reshape(b, t, 1), dpooled.reshape(b, 1, dpooled.columns()), dHidden);
        return dHidden.reshape((long) b * t, dpooled.columns());
    }

    @Override public ParamRegistry params() { return params; }

    @Override public List<LoraLinear> loraLayers() { return loraLayers; }

    @Override public TransformerConfig config() { return body.config(); }
}
