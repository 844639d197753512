package io.lorafleet.nn;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * DoRA (Liu et al. 2024, arXiv 2402.09353; PEFT's {@code use_dora}): the adapted weight W + s·ΔW (ΔW = B·A, less B₀·A₀
 * when it started from W) is split into its direction and a trainable length per output row, the magnitude m:
 * W' = m ⊙ (W + s·ΔW) / n with n = ‖W + s·ΔW‖ per row. As the paper (§4.3) and PEFT do, n is recomputed at every
 * forward and held constant in the backward. The output, as PEFT computes it with g = m / n:
 * <pre>  y = x·Wᵀ + b + (g − 1) ⊙ (drop(x)·Wᵀ) + g ⊙ s·(drop(x)·Aᵀ)·Bᵀ</pre>
 * which without dropout is g ⊙ (x·(W + s·ΔW)ᵀ) + b. m starts at n, so the adapted model starts as the base.
 */
public final class DoraDelta implements AdapterDelta {
    /** PEFT's file name of the magnitude, {@code <module>.lora_magnitude_vector} (no ".weight" in the file). */
    public static final String MAGNITUDE_SUFFIX = ".lora_magnitude_vector";

    private final Linear base;      // the frozen W [out, in] and bias
    private final LoraDelta lora;
    private final Param magnitude;  // m [out]
    private final INDArray weightSquares; // ‖W‖² per row [out]: W is frozen

    private INDArray norm;          // n [out] of the last forward
    private INDArray ratio;         // g = m / n [out]
    private INDArray combined;      // [N, out] drop(x)·(W + s·ΔW)ᵀ: what m scales
    private INDArray mergedRatio;   // g at merge time, to unmerge with

    public DoraDelta(Linear base, LoraDelta lora, Param magnitude) {
        if (magnitude.shape().length != 1 || magnitude.shape()[0] != base.outFeatures()) {
            throw new IllegalArgumentException(magnitude.name() + " must have one entry per output (" + base.outFeatures() + ")");
        }
        this.base = base;
        this.lora = lora;
        this.magnitude = magnitude;
        this.weightSquares = rowSquares(base.weightValue());
    }

    /** ‖row‖ for each row of a matrix [out, in]: W's are where m starts. */
    public static INDArray rowNorms(INDArray matrix) {
        return Transforms.sqrt(rowSquares(matrix), false);
    }

    private static INDArray rowSquares(INDArray matrix) {
        return HeldOps.sum(matrix.mul(matrix), 1);
    }

    /**
     * n = ‖W + s·ΔW‖ per output row, while W holds no merged adapter, without forming W + s·ΔW (an
     * [out, in] temporary per module and forward, which a step's workspace would keep to its end): with ΔW = B'·A'
     * (B' = [B, −B₀], A' = [A; A₀]), n² = ‖W‖² + 2s·Σ B' ⊙ (W·A'ᵀ) + s²·Σ (B'·A'·A'ᵀ) ⊙ B', summed along each row.
     */
    private INDArray adaptedNorms() {
        INDArray a = lora.updateA(), b = lora.updateB();
        double s = lora.scale();
        INDArray projected = base.product(a).transpose();                      // W·A'ᵀ [out, r']
        INDArray cross = HeldOps.sum(projected.muli(b), 1);
        INDArray squares = HeldOps.sum(b.mmul(a.mmul(a.transpose())).muli(b), 1);
        return Transforms.sqrt(cross.muli(2 * s).addi(squares.muli(s * s)).addi(weightSquares), false);
    }

    @Override
    public void setTraining(boolean training, long step, long microBatch) {
        lora.setTraining(training, step, microBatch);
    }

    @Override
    public void addForward(INDArray x, INDArray y) {
        norm = adaptedNorms();
        ratio = magnitude.value().div(norm);
        INDArray update = Nd4j.zeros(y.dataType(), y.rows(), y.columns());
        lora.addUpdate(x, update);                 // s·(drop(x)·Aᵀ)·Bᵀ
        lora.subtractInitial(x, y);                // y = x·(W − s·B₀·A₀)ᵀ + b
        INDArray direct;                           // drop(x)·(W − s·B₀·A₀)ᵀ
        if (lora.mask() == null) {
            direct = y.dup();
            if (base.bias() != null) HeldOps.rows(HeldOps.Op.SUB, direct, base.bias().value(), direct);
        } else {
            direct = base.product(lora.droppedInput());
            lora.subtractInitial(lora.droppedInput(), direct);
        }
        y.subi(direct);
        combined = direct.addi(update);
        y.addi(HeldOps.rows(HeldOps.Op.MUL, combined, ratio, update));
    }

    @Override
    public void backward(INDArray dy, INDArray dx) {
        magnitude.grad().addi(HeldOps.sum(dy.mul(combined), 0).divi(norm));
        if (dx != null) lora.subtractInitialInputGradient(dy, dx);
        INDArray scaled = HeldOps.rows(HeldOps.Op.MUL, dy, ratio, Nd4j.createUninitialized(dy.dataType(), dy.rows(), dy.columns()));
        lora.backwardUpdate(scaled, dx);
        if (dx == null) return;
        INDArray dDirect = scaled.subi(dy);        // (g − 1) ⊙ dy
        INDArray dDropped = base.inputGradient(dDirect);
        lora.subtractInitialInputGradient(dDirect, dDropped);
        if (lora.mask() != null) dDropped.muli(lora.mask());
        dx.addi(dDropped);
    }

    /** W ← g ⊙ (W + s·ΔW), per row: PEFT's merge. */
    @Override
    public void merge(INDArray weight) {
        mergedRatio = magnitude.value().div(adaptedNorms()); // before W takes the adapter
        lora.foldInto(weight, 1);
        HeldOps.columns(HeldOps.Op.MUL, weight, mergedRatio, weight);
    }

    @Override
    public void unmerge(INDArray weight) {
        HeldOps.columns(HeldOps.Op.DIV, weight, mergedRatio, weight);
        lora.foldInto(weight, -1);
    }

    @Override
    public LoraDelta lora() { return lora; }

    public Param magnitude() { return magnitude; }
}
