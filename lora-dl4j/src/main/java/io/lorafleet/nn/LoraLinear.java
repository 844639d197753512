package io.lorafleet.nn;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A frozen {@link Linear} plus one adapter on every row: y = x·Wᵀ + b + s·(drop(x)·Aᵀ)·Bᵀ for LoRA, DoRA's rescaled
 * form for a {@link DoraDelta}. {@link #merge()} folds the adapter into W for inference and {@link #unmerge()} takes it
 * back out.
 */
public final class LoraLinear implements Projection {
    private final Linear base;
    private final AdapterDelta delta;
    private boolean merged;

    public LoraLinear(Linear base, Param a, Param b, double scale, double dropout, long dropoutSeed) {
        this(base, new LoraDelta(a, b, scale, dropout, dropoutSeed));
    }

    public LoraLinear(Linear base, AdapterDelta delta) {
        checkFits(base, delta);
        this.base = base;
        this.delta = delta;
    }

    /** Fails unless the base is frozen and A [r, in], B [out, r] fit it. */
    static void checkFits(Linear base, AdapterDelta adapter) {
        LoraDelta delta = adapter.lora();
        if (base.weight().trainable()) throw new IllegalArgumentException("LoRA needs a frozen base weight: " + base.weight().name());
        if (delta.loraA().shape()[1] != base.inFeatures() || delta.loraB().shape()[0] != base.outFeatures()) {
            throw new IllegalArgumentException("LoRA shapes A " + java.util.Arrays.toString(delta.loraA().shape()) + ", B "
                    + java.util.Arrays.toString(delta.loraB().shape()) + " do not fit " + base.weight().name());
        }
    }

    /** Training mode turns dropout on; the step number makes each step's dropout mask reproducible. */
    public void setTraining(boolean training, long step) {
        delta.setTraining(training, step, 0);
    }

    @Override
    public INDArray forward(INDArray x) {
        INDArray y = base.forward(x);
        if (!merged || base.quantized()) delta.addForward(x, y);
        return y;
    }

    @Override
    public INDArray backward(INDArray dy, boolean inputGradient) {
        if (merged) throw new IllegalStateException("backward through a merged LoRA layer (" + loraA().name() + "); unmerge first");
        INDArray dx = base.backward(dy, inputGradient);
        delta.backward(dy, dx);
        return dx;
    }

    /**
     * W ← W + s·B·A (DoRA: rescaled per row), after which the forward costs exactly what the base layer costs. An int8 W
     * cannot hold the adapter: it stays unmerged and the forward adds it, with the same outputs.
     */
    public void merge() {
        if (merged) throw new IllegalStateException(loraA().name() + " is already merged");
        if (!base.quantized()) delta.merge(base.weight().value());
        merged = true;
    }

    /** Restores the base weight (to float rounding). */
    public void unmerge() {
        if (!merged) throw new IllegalStateException(loraA().name() + " is not merged");
        if (!base.quantized()) delta.unmerge(base.weight().value());
        merged = false;
    }

    /** Whether the adapter is in W (or would be: an int8 W keeps it apart). */
    public boolean merged() { return merged; }

    public int rank() { return delta.lora().rank(); }

    public double scale() { return delta.lora().scale(); }

    public Param loraA() { return delta.lora().loraA(); }

    public Param loraB() { return delta.lora().loraB(); }

    public Linear base() { return base; }

    public AdapterDelta delta() { return delta; }

    @Override public long inFeatures() { return base.inFeatures(); }

    @Override public long outFeatures() { return base.outFeatures(); }
}
