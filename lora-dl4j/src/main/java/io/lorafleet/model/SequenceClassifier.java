package io.lorafleet.model;

import io.lorafleet.nn.Initializer;
import io.lorafleet.nn.Linear;
import io.lorafleet.nn.LoraConfig;
import io.lorafleet.nn.ParamRegistry;

/** Body → pooled sequence vector (the first token's, or the mean over real tokens) → trainable linear classifier. */
public final class SequenceClassifier extends HeadedModel {
    public enum Pooling { CLS, MEAN }

    private SequenceClassifier(Body body, TaskHead head, Tuning tuning) {
        super(body, head, tuning);
    }

    /**
     * Builds the model and allocates its trainable tensors.
     *
     * @param lora LoRA settings, or null for full fine-tuning (every pretrained tensor trainable)
     */
    public static SequenceClassifier create(TransformerConfig config, ModelWeights weights, LoraConfig lora,
                                            int numLabels, Pooling pooling, long seed) {
        ParamRegistry registry = new ParamRegistry();
        Tuning tuning = lora == null ? Tuning.fullFineTuning(registry, seed) : Tuning.lora(lora, registry, seed);
        Body body = body(config, weights, tuning);
        tuning.checkTargetsMatched();
        TaskHead head = head(config, tuning, 0, numLabels, pooling);
        registry.allocate(weights.dataType(), seed);
        return new SequenceClassifier(body, head, tuning);
    }

    static Body body(TransformerConfig config, ModelWeights weights, Tuning tuning) {
        return config.modelType().equals("bert") ? new BertEncoder(config, weights, tuning) : new Gpt2Decoder(config, weights, tuning);
    }

    /** The classifier of adapter {@code adapter} (0 for a single-adapter model): "classifier.weight" [labels, d] and "classifier.bias". */
    static ClassifierHead head(TransformerConfig config, Tuning tuning, int adapter, int numLabels, Pooling pooling) {
        if (numLabels < 2) throw new IllegalArgumentException("num_labels must be >= 2, got " + numLabels);
        Linear classifier = new Linear(tuning.head(adapter, "classifier.weight", new long[] {numLabels, config.hiddenSize()}, Initializer.gaussian(0.02)),
                tuning.head(adapter, "classifier.bias", new long[] {numLabels}, Initializer.ZEROS));
        return new ClassifierHead(pooling, classifier);
    }
}
