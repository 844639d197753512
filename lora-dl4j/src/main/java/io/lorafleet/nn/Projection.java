package io.lorafleet.nn;

import org.nd4j.linalg.api.ndarray.INDArray;

/** A learned affine map applied to every row: {@link Linear}, or a {@link LoraLinear} around one. */
public interface Projection {
    /** x [N, in] → y [N, out]. Caches what {@link #backward} needs. */
    INDArray forward(INDArray x);

    /**
     * dy [N, out] → dx [N, in]; adds this projection's parameter gradients into their buffers. When the
     * input needs no gradient (it comes from frozen embeddings), pass false: dx is not computed and null
     * is returned.
     */
    INDArray backward(INDArray dy, boolean inputGradient);

    long inFeatures();

    long outFeatures();
}
