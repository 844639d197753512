package io.lorafleet.model;

import io.lorafleet.nn.Initializer;
import io.lorafleet.nn.Linear;
import io.lorafleet.nn.LoraConfig;
import io.lorafleet.nn.ParamRegistry;

/** Body → pooled sequence vector → trainable linear classifier. */
public final class SequenceClassifier extends HeadedModel {
    /**
     * CLS: the first token's state; MEAN: the mean over real tokens (what sentence-embedding models are trained for);
     * HF: the architecture's own Hugging Face head, so that transformers' *ForSequenceClassification gives our logits —
     * BERT's [CLS] through the pooler (dense + tanh, trained, from the checkpoint's when it has one) into the classifier,
     * GPT-2's last real token into a bias-free "score".
     */
    public enum Pooling { CLS, MEAN, HF }

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
        TaskHead head = head(config, weights, tuning, 0, numLabels, pooling);
        registry.allocate(weights.dataType(), seed);
        return new SequenceClassifier(body, head, tuning);
    }

    static Body body(TransformerConfig config, ModelWeights weights, Tuning tuning) {
        return config.architecture() == Architecture.BERT ? new BertEncoder(config, weights, tuning) : new Gpt2Decoder(config, weights, tuning);
    }

    /** The head of adapter {@code adapter} (0 for a single-adapter model), its tensors named as Hugging Face names them. */
    static ClassifierHead head(TransformerConfig config, ModelWeights weights, Tuning tuning, int adapter, int numLabels, Pooling pooling) {
        if (numLabels < 2) throw new IllegalArgumentException("num_labels must be >= 2, got " + numLabels);
        long d = config.hiddenSize();
        boolean gpt2 = config.architecture() == Architecture.GPT2;
        if (pooling == Pooling.HF && gpt2) {
            return new ClassifierHead(ClassifierHead.Token.LAST, null,
                    new Linear(tuning.head(adapter, "score.weight", new long[] {numLabels, d}, Initializer.gaussian(0.02)), null));
        }
        Linear pooler = null;
        if (pooling == Pooling.HF) {
            boolean pretrained = weights.contains("pooler.dense.weight");
            pooler = new Linear(tuning.head(adapter, "pooler.dense.weight", new long[] {d, d},
                    pretrained ? Initializer.copyOf(weights.asMap().get("pooler.dense.weight").ravel().toDoubleVector()) : Initializer.gaussian(0.02)),
                    tuning.head(adapter, "pooler.dense.bias", new long[] {d},
                            pretrained ? Initializer.copyOf(weights.asMap().get("pooler.dense.bias").toDoubleVector()) : Initializer.ZEROS));
        }
        Linear classifier = new Linear(tuning.head(adapter, "classifier.weight", new long[] {numLabels, d}, Initializer.gaussian(0.02)),
                tuning.head(adapter, "classifier.bias", new long[] {numLabels}, Initializer.ZEROS));
        return new ClassifierHead(pooling == Pooling.MEAN ? ClassifierHead.Token.MEAN : ClassifierHead.Token.FIRST, pooler, classifier);
    }
}
