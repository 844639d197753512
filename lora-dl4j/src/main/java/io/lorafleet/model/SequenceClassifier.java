package io.lorafleet.model;

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
        Body body = Body.of(config, weights, tuning);
        tuning.checkTargetsMatched();
        TaskHead head = ClassifierHead.of(config, weights, tuning, 0, numLabels, pooling);
        registry.allocate(weights.dataType(), seed);
        return new SequenceClassifier(body, head, tuning);
    }
}
