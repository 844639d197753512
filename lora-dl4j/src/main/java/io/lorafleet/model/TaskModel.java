package io.lorafleet.model;

import io.lorafleet.nn.LoraLinear;
import io.lorafleet.nn.ParamRegistry;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.List;

/** A body with a task head and its loss: what the trainer trains and the evaluator scores. */
public interface TaskModel {
    /** Forward and backward on one batch: adds into the gradient buffers and returns the mean loss. */
    double forwardBackward(TokenBatch batch);

    /** Forward only: the mean loss of a labeled batch, no gradients. */
    double loss(TokenBatch batch);

    /** Inference logits: [B, labels] for classification; for a causal LM [N, vocab], one row per real token in order (see {@link PackedBatch}). */
    INDArray logits(TokenBatch batch);

    /** Every trainable tensor, as one flat vector. */
    ParamRegistry params();

    List<LoraLinear> loraLayers();

    TransformerConfig config();

    /** Training mode turns LoRA dropout on; the step number seeds its masks. */
    default void setTraining(boolean training, long step) {
        for (LoraLinear layer : loraLayers()) layer.setTraining(training, step);
    }

    default void merge() { loraLayers().forEach(LoraLinear::merge); }

    default void unmerge() { loraLayers().forEach(LoraLinear::unmerge); }
}
