package io.lorafleet.nn;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A frozen {@link Linear} plus a trainable low-rank update on every row: y = x·Wᵀ + b + s·(drop(x)·Aᵀ)·Bᵀ.
 * {@link #merge()} folds s·B·A into W for inference and {@link #unmerge()} takes it back out.
 */
public final class LoraLinear implements Projection {
    private final Linear base;
    private final LoraDelta delta;
    private boolean merged;

    public LoraLinear(Linear base, Param a, Param b, double scale, double dropout, long dropoutSeed) {
        this(base, new LoraDelta(a, b, scale, dropout, dropoutSeed));
    }

    public LoraLinear(Linear base, LoraDelta delta) {
        checkFits(base, delta);
        this.base = base;
        this.delta = delta;
    }

    /** Fails unless the base is frozen and A [r, in], B [out, r] fit it. */
    static void checkFits(Linear base, LoraDelta delta) {
        if (base.weight().trainable()) throw new IllegalArgumentException("LoRA needs a frozen base weight: " + base.weight().name());
        if (delta.loraA().shape()[1] != base.inFeatures() || delta.loraB().shape()[0] != base.outFeatures()) {
            throw new IllegalArgumentException("LoRA shapes A " + java.util.Arrays.toString(delta.loraA().shape()) + ", B "
                    + java.util.Arrays.toString(delta.loraB().shape()) + " do not fit " + base.weight().name());
        }
    }

    /** Training mode turns dropout on; the step number makes each step's dropout mask reproducible. */
    public void setTraining(boolean training, long step) {
        delta.setTraining(training, step);
    }

    @Override
    public INDArray forward(INDArray x) {
        INDArray y = base.forward(x);
        if (!merged) delta.addForward(x, y);
        return y;
    }

    @Override
    public INDArray backward(INDArray dy, boolean inputGradient) {
        if (merged) throw new IllegalStateException("backward through a merged LoRA layer (" + delta.loraA().name() + "); unmerge first");
        INDArray dx = base.backward(dy, inputGradient);
        delta.backward(dy, dx);
        return dx;
    }

    /** W ← W + s·B·A, after which the forward costs exactly what the base layer costs. */
    public void merge() {
        if (merged) throw new IllegalStateException(delta.loraA().name() + " is already merged");
        delta.foldInto(base.weight().value(), 1);
        merged = true;
    }

    /** W ← W − s·B·A: restores the base weight (to float rounding). */
    public void unmerge() {
        if (!merged) throw new IllegalStateException(delta.loraA().name() + " is not merged");
        delta.foldInto(base.weight().value(), -1);
        merged = false;
    }

    public boolean merged() { return merged; }

    public int rank() { return delta.rank(); }

    public double scale() { return delta.scale(); }

    public Param loraA() { return delta.loraA(); }

    public Param loraB() { return delta.loraB(); }

    public Linear base() { return base; }

    @Override public long inFeatures() { return base.inFeatures(); }

    @Override public long outFeatures() { return base.outFeatures(); }
}
