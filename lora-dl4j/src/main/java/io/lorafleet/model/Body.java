package io.lorafleet.model;

import org.nd4j.linalg.api.ndarray.INDArray;

/** A transformer body: token batch in, one hidden vector per token out. */
public interface Body {
    /** → hidden states [B·T, d]. */
    INDArray forward(TokenBatch batch);

    /** dHidden [B·T, d]; accumulates gradients of every trainable tensor of the body. */
    void backward(INDArray dHidden);

    TransformerConfig config();
}
