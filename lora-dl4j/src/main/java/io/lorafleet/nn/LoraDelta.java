package io.lorafleet.nn;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.random.impl.BernoulliDistribution;
import org.nd4j.linalg.api.rng.Random;
import org.nd4j.linalg.factory.Nd4j;

/**
 * One adapter's low-rank update of a frozen projection: Δy = s·(drop(x)·Aᵀ)·Bᵀ, added to the base output.
 * B·A is never formed while training. {@link LoraLinear} applies one delta to every row;
 * {@link MultiLoraLinear} applies each adapter's delta to that adapter's rows only.
 *
 * <p>When A and B start from a part of W itself (PiSSA, OLoRA: {@link WeightDecomposition}), that starting part
 * A₀, B₀ is kept, frozen, and taken out of the base: Δy = s·(drop(x)·Aᵀ)·Bᵀ − s·(x·A₀ᵀ)·B₀ᵀ. The base W is never
 * changed, so one frozen W still serves every adapter, and the adapter is already the plain LoRA update
 * B·A − B₀·A₀ = [B, −B₀]·[A; A₀] that PEFT's converted PiSSA export holds.
 */
public final class LoraDelta implements AdapterDelta {
    /** The names of a module's A and B, as PEFT writes them: {@code <module>.lora_A.weight}, {@code <module>.lora_B.weight}. */
    public static final String A_SUFFIX = ".lora_A.weight", B_SUFFIX = ".lora_B.weight";

    private final Param a;        // [r, in]
    private final Param b;        // [out, r]
    private final INDArray initialA; // [r, in] A₀, frozen, or null
    private final INDArray initialB; // [out, r] B₀, frozen, or null
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
        this(a, b, null, scale, dropout, dropoutSeed);
    }

    /** With the frozen starting part {@code initial} (A₀, B₀) taken out of the base, or none (null). */
    public LoraDelta(Param a, Param b, WeightDecomposition.Part initial, double scale, double dropout, long dropoutSeed) {
        if (a.shape()[0] != b.shape()[1]) {
            throw new IllegalArgumentException("LoRA shapes A " + java.util.Arrays.toString(a.shape()) + ", B " + java.util.Arrays.toString(b.shape())
                    + " disagree on the rank");
        }
        if (initial != null && !(java.util.Arrays.equals(initial.a().shape(), a.shape()) && java.util.Arrays.equals(initial.b().shape(), b.shape()))) {
            throw new IllegalArgumentException("the starting part of " + a.name() + " has another shape");
        }
        this.a = a;
        this.b = b;
        this.initialA = initial == null ? null : initial.a();
        this.initialB = initial == null ? null : initial.b();
        this.scale = scale;
        this.dropout = dropout;
        this.dropoutSeed = dropoutSeed;
        this.dropoutRandom = dropout > 0 ? Nd4j.getRandomFactory().getNewRandomInstance(dropoutSeed) : null;
    }

    @Override
    public void setTraining(boolean training, long step, long microBatch) {
        this.training = training;
        this.step = step;
        this.microBatch = microBatch;
    }

    /**
     * y += Δy for x [N, in], y [N, out] (views are fine); caches what backward needs. Rows are real tokens only
     * (packed), so a step's dropout mask depends on its sequences alone, never on padding or on other adapters' rows
     * in a fused batch.
     */
    @Override
    public void addForward(INDArray x, INDArray y) {
        addUpdate(x, y);
        subtractInitial(x, y);
    }

    @Override
    public void backward(INDArray dy, INDArray dx) {
        backwardUpdate(dy, dx);
        if (dx != null) subtractInitialInputGradient(dy, dx);
    }

    /** y += s·(drop(x)·Aᵀ)·Bᵀ: the trainable update alone. */
    void addUpdate(INDArray x, INDArray y) {
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

    /** Adds dA and dB for dy [N, out]; when dx [N, in] is given, adds the update's input gradient into it. */
    void backwardUpdate(INDArray dy, INDArray dx) {
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

    /** y −= s·(x·A₀ᵀ)·B₀ᵀ, when there is a starting part: y then holds x·(W − s·B₀·A₀)ᵀ where it held x·Wᵀ. */
    void subtractInitial(INDArray x, INDArray y) {
        if (initialA == null) return;
        INDArray h0 = Nd4j.createUninitialized(x.dataType(), x.rows(), rank());
        Nd4j.gemm(x, initialA, h0, false, true, 1.0, 0.0);
        Nd4j.gemm(h0, initialB, y, false, true, -scale, 1.0);
    }

    /** dx −= s·(dy·B₀)·A₀: {@link #subtractInitial}'s input gradient. */
    void subtractInitialInputGradient(INDArray dy, INDArray dx) {
        if (initialA == null) return;
        INDArray dh0 = Nd4j.createUninitialized(dy.dataType(), dy.rows(), rank());
        Nd4j.gemm(dy, initialB, dh0, false, false, 1.0, 0.0);
        Nd4j.gemm(dh0, initialA, dx, false, false, -scale, 1.0);
    }

    /** The last forward's dropout mask (scaled by 1/(1−p)), or null when no dropout was applied. */
    INDArray mask() { return mask; }

    /** The last forward's input of A: x after dropout. */
    INDArray droppedInput() { return xa; }

    /** weight += sign·s·B'·A' (weight [out, in]): folds the update into a base weight, or takes it out. */
    void foldInto(INDArray weight, int sign) {
        Nd4j.gemm(updateB(), updateA(), weight, false, false, sign * scale, 1.0);
    }

    /**
     * The update B·A − B₀·A₀ as plain LoRA factors B'·A': A' = [A; A₀] [r', in] (A itself without a starting part), the
     * form PEFT's converted export holds.
     */
    public INDArray updateA() {
        return initialA == null ? a.value() : Nd4j.vstack(a.value(), initialA);
    }

    /** B' = [B, −B₀] [out, r'] (B itself without a starting part). */
    public INDArray updateB() {
        return initialB == null ? b.value() : Nd4j.hstack(b.value(), initialB.neg());
    }

    @Override
    public void merge(INDArray weight) { foldInto(weight, 1); }

    @Override
    public void unmerge(INDArray weight) { foldInto(weight, -1); }

    @Override
    public LoraDelta lora() { return this; }

    /** A₀ [r, in], frozen, or null: where A started when it started from W (PiSSA, OLoRA). */
    INDArray initialA() { return initialA; }

    /** B₀ [out, r], frozen, or null. */
    INDArray initialB() { return initialB; }

    public int rank() { return (int) a.shape()[0]; }

    public double scale() { return scale; }

    public Param loraA() { return a; }

    public Param loraB() { return b; }
}
