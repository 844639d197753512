package io.lorafleet.nn;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.random.impl.BernoulliDistribution;
import org.nd4j.linalg.api.rng.Random;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A frozen {@link Linear} plus a trainable low-rank update: y = x·Wᵀ + b + s·(drop(x)·Aᵀ)·Bᵀ.
 * The update B·A is never formed in the forward pass; {@link #merge()} folds s·B·A into W for
 * inference and {@link #unmerge()} takes it back out.
 */
public final class LoraLinear implements Projection {
    private final Linear base;
    private final Param a;        // [r, in]
    private final Param b;        // [out, r]
    private final double scale;   // alpha/r, or alpha/sqrt(r) with rsLoRA
    private final double dropout;
    private final long dropoutSeed;
    private final Random dropoutRandom;
    private boolean training;
    private long step;
    private boolean merged;

    private INDArray xa;   // [N, in]  input of A after dropout
    private INDArray mask; // [N, in]  dropout mask scaled by 1/(1-p), or null
    private INDArray h;    // [N, r]   xa·Aᵀ

    public LoraLinear(Linear base, Param a, Param b, double scale, double dropout, long dropoutSeed) {
        if (base.weight().trainable()) throw new IllegalArgumentException("LoRA needs a frozen base weight: " + base.weight().name());
        long r = a.shape()[0];
        if (a.shape()[1] != base.inFeatures() || b.shape()[0] != base.outFeatures() || b.shape()[1] != r) {
            throw new IllegalArgumentException("LoRA shapes A " + java.util.Arrays.toString(a.shape()) + ", B "
                    + java.util.Arrays.toString(b.shape()) + " do not fit " + base.weight().name());
        }
        this.base = base;
        this.a = a;
        this.b = b;
        this.scale = scale;
        this.dropout = dropout;
        this.dropoutSeed = dropoutSeed;
        this.dropoutRandom = dropout > 0 ? Nd4j.getRandomFactory().getNewRandomInstance(dropoutSeed) : null;
    }

    /** Training mode turns dropout on; the step number makes each step's dropout mask reproducible. */
    public void setTraining(boolean training, long step) {
        this.training = training;
        this.step = step;
    }

    @Override
    public INDArray forward(INDArray x) {
        INDArray y = base.forward(x);
        if (merged) return y;
        xa = x;
        mask = null;
        if (training && dropout > 0) {
            mask = x.ulike();
            dropoutRandom.setSeed(dropoutSeed * 6364136223846793005L + step);
            Nd4j.getExecutioner().exec(new BernoulliDistribution(mask, 1.0 - dropout), dropoutRandom);
            mask.muli(1.0 / (1.0 - dropout));
            xa = x.mul(mask);
        }
        h = Nd4j.create(x.dataType(), x.rows(), rank());
        Nd4j.gemm(xa, a.value(), h, false, true, 1.0, 0.0);
        Nd4j.gemm(h, b.value(), y, false, true, scale, 1.0);
        return y;
    }

    @Override
    public INDArray backward(INDArray dy, boolean inputGradient) {
        if (merged) throw new IllegalStateException("backward through a merged LoRA layer (" + a.name() + "); unmerge first");
        INDArray dx = base.backward(dy, inputGradient);
        Nd4j.gemm(dy, h, b.grad(), true, false, scale, 1.0);           // dB += s·dyᵀ·h
        INDArray dh = Nd4j.create(dy.dataType(), dy.rows(), rank());
        Nd4j.gemm(dy, b.value(), dh, false, false, scale, 0.0);        // dh = s·dy·B
        Nd4j.gemm(dh, xa, a.grad(), true, false, 1.0, 1.0);            // dA += dhᵀ·xa
        if (!inputGradient) return null;
        if (mask == null) {
            Nd4j.gemm(dh, a.value(), dx, false, false, 1.0, 1.0);      // dx += dh·A
        } else {
            INDArray dxa = Nd4j.create(dy.dataType(), dy.rows(), base.inFeatures());
            Nd4j.gemm(dh, a.value(), dxa, false, false, 1.0, 0.0);
            dx.addi(dxa.muli(mask));
        }
        return dx;
    }

    /** W ← W + s·B·A, after which the forward costs exactly what the base layer costs. */
    public void merge() {
        if (merged) throw new IllegalStateException(a.name() + " is already merged");
        Nd4j.gemm(b.value(), a.value(), base.weight().value(), false, false, scale, 1.0);
        merged = true;
    }

    /** W ← W − s·B·A: restores the base weight (to float rounding). */
    public void unmerge() {
        if (!merged) throw new IllegalStateException(a.name() + " is not merged");
        Nd4j.gemm(b.value(), a.value(), base.weight().value(), false, false, -scale, 1.0);
        merged = false;
    }

    public boolean merged() { return merged; }

    public int rank() { return (int) a.shape()[0]; }

    public double scale() { return scale; }

    public Param loraA() { return a; }

    public Param loraB() { return b; }

    public Linear base() { return base; }

    @Override public long inFeatures() { return base.inFeatures(); }

    @Override public long outFeatures() { return base.outFeatures(); }
}
