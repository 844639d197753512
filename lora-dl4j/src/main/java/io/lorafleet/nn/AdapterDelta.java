package io.lorafleet.nn;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * What one adapter does to a frozen projection's output: plain LoRA ({@link LoraDelta}) or DoRA ({@link DoraDelta},
 * which rescales the output it is given). {@link LoraLinear} applies one to every row, {@link MultiLoraLinear} each
 * adapter's to that adapter's rows.
 */
public interface AdapterDelta {
    /**
     * Training mode turns dropout on; the step number makes each step's dropout mask reproducible, and so does the
     * micro-batch number of a step whose batch runs in parts (gradient accumulation): each part starts at row 0, so
     * each needs a mask of its own; part 0's is the whole step's.
     */
    void setTraining(boolean training, long step, long microBatch);

    /** x [N, in] and y [N, out] = x·Wᵀ + b (views are fine): makes y the adapted output; caches what backward needs. */
    void addForward(INDArray x, INDArray y);

    /**
     * Adds the adapter's gradients for dy [N, out]; when dx [N, in] is given, it holds dy·W and becomes the adapted
     * projection's input gradient.
     */
    void backward(INDArray dy, INDArray dx);

    /** W [out, in] ← the adapted weight, so that x·W'ᵀ + b is the adapted output. */
    void merge(INDArray weight);

    /** The inverse of {@link #merge} (to float rounding). */
    void unmerge(INDArray weight);

    /** The low-rank part: A, B, the scale. */
    LoraDelta lora();
}
