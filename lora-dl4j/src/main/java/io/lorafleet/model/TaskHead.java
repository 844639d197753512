package io.lorafleet.model;

import org.nd4j.linalg.api.ndarray.INDArray;

/** Turns a body's hidden states into one task's logits, names what the loss compares them with, and runs backward. */
public interface TaskHead {
    /** hidden [N, d] of {@code batch}'s tokens → logits: [B, labels] for classification, [N, vocab] for a causal LM. */
    INDArray logits(INDArray hidden, PackedBatch batch);

    /** The cross-entropy target of each logits row ({@link io.lorafleet.nn.SoftmaxCrossEntropy#IGNORE_INDEX} to skip one). */
    int[] targets(PackedBatch batch);

    /** dlogits → dHidden [N, d] for the last {@link #logits} call; adds the head's own parameter gradients. */
    INDArray backward(INDArray dlogits);
}
