package io.lorafleet.nn;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.random.impl.BernoulliDistribution;
import org.nd4j.linalg.api.rng.Random;
import org.nd4j.linalg.factory.Nd4j;

/**
 * One adapter's low-rank update of a frozen projection: Δy = s·(drop(x)·Aᵀ)·Bᵀ, added to the base output.
 * B·A is never formed while training. {@link LoraLinear} applies one delta to every row;
 * {@link MultiLoraLinear} applies each adapter's delta to that adapter's rows only.
 */
public final class LoraDelta {
    /** The names of a module's A and B, as PEFT writes them: {@code <module>.lora_A.weight}, {@code <module>.lora_B.weight}. */
    public static final String A_SUFFIX = ".lora_A.weight", B_SUFFIX = ".lora_B.weight";

    private final Param a;        // [r, in]
    private final Param b;        // [out, r]
    private final double scale;   // alpha/r, or alpha/sqrt(r) with rsLoRA
    private final double dropout;
    private final long dropoutSeed;
    private final Random dropoutRandom;
    private boolean training;
    private long step;
    private long microBatch;

    private INDArray xa;   // [N, in]  input of A after dropout
    private INDArray mask; // [N, in]  dropout mask scaled by 1/(1-p), or null
    private INDArray h;    // [N, r]   xa·Aᵀ

    public LoraDelta(Param a, Param b, double scale, double dropout, long dropoutSeed) {
        if (a.shape()[0] != b.shape()[1]) {
            throw new IllegalArgumentException("LoRA shapes A " + java.util.Arrays.toString(a.shape()) + ", B " + java.util.Arrays.toString(b.shape())
                    + " disagree on the rank");
        }
        this.a = a;
        this.b = b;
        this.scale = scale;
        this.dropout = dropout;
        this.dropoutSeed = dropoutSeed;
        this.dropoutRandom = dropout > 0 ? Nd4j.getRandomFactory().getNewRandomInstance(dropoutSeed) : null;
    }

    /** Training mode turns dropout on; the step number makes each step's dropout mask reproducible. */
    public void setTraining(boolean training, long step) {
        setTraining(training, step, 0);
    }

    /**
     * The same for micro-batch {@code microBatch} of a step whose batch runs in parts (gradient accumulation): each
     * part starts at row 0, so each needs a mask of its own; part 0's is the whole step's.
     */
    public void setTraining(boolean training, long step, long microBatch) {
        this.training = training;
        this.step = step;
        this.microBatch = microBatch;
    }

    /**
     * y += s·(drop(x)·Aᵀ)·Bᵀ for x [N, in], y [N, out] (views are fine); caches what backward needs. Rows are
     * real tokens only (packed), so a step's dropout mask depends on its sequences alone, never on padding
     * or on other adapters' rows in a fused batch.
     */
    public void addForward(INDArray x, INDArray y) {
        xa = x;
        mask = null;
        if (training && dropout > 0) {
            mask = Nd4j.createUninitialized(x.dataType(), x.rows(), x.columns());
            dropoutRandom.setSeed(dropoutSeed * 6364136223846793005L + step + microBatch * 0x9E3779B97F4A7C15L);
            Nd4j.getExecutioner().exec(new BernoulliDistribution(mask, 1.0 - dropout), dropoutRandom);
            mask.muli(1.0 / (1.0 - dropout));
            xa = x.mul(mask);
        }
        h = Nd4j.createUninitialized(x.dataType(), x.rows(), rank());
        Nd4j.gemm(xa, a.value(), h, false, true, 1.0, 0.0);
        Nd4j.gemm(h, b.value(), y, false, true, scale, 1.0);
    }

    /** Adds dA and dB for dy [N, out]; when dx [N, in] is given, adds this path's input gradient into it. */
    public void backward(INDArray dy, INDArray dx) {
        Nd4j.gemm(dy, h, b.grad(), true, false, scale, 1.0);           // dB += s·dyᵀ·h
        INDArray dh = Nd4j.createUninitialized(dy.dataType(), dy.rows(), rank());
        Nd4j.gemm(dy, b.value(), dh, false, false, scale, 0.0);        // dh = s·dy·B
        Nd4j.gemm(dh, xa, a.grad(), true, false, 1.0, 1.0);            // dA += dhᵀ·xa
        if (dx == null) return;
        if (mask == null) {
            Nd4j.gemm(dh, a.value(), dx, false, false, 1.0, 1.0);      // dx += dh·A
        } else {
            INDArray dxa = Nd4j.createUninitialized(dy.dataType(), dy.rows(), a.shape()[1]);
            Nd4j.gemm(dh, a.value(), dxa, false, false, 1.0, 0.0);
            dx.addi(dxa.muli(mask));
        }
    }

    /** weight += sign·s·B·A (weight [out, in]): folds the update into a base weight, or takes it out. */
    void foldInto(INDArray weight, int sign) {
        Nd4j.gemm(b.value(), a.value(), weight, false, false, sign * scale, 1.0);
    }

    public int rank() { return (int) a.shape()[0]; }

    public double scale() { return scale; }

    public Param loraA() { return a; }

    public Param loraB() { return b; }
}
