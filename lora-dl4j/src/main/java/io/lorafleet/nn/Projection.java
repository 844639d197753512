package io.lorafleet.nn;

import org.nd4j.linalg.api.ndarray.INDArray;

/** A learned affine map applied to every row: {@link Linear}, or a {@link LoraLinear} around one. */
public interface Projection {
    /** x [N, in] → y [N, out]. Caches what {@link #backward} needs. */
    INDArray forward(INDArray x);

    /** dy [N, out] → dx [N, in]; adds this projection's parameter gradients into their buffers. */
    INDArray backward(INDArray dy);

    long inFeatures();

    long outFeatures();
}
