package io.lorafleet.nn;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * Mean cross-entropy of softmax(logits) against integer targets; rows whose target equals
 * {@link #IGNORE_INDEX} count neither in the loss nor in the mean (PyTorch's ignore_index = -100).
 */
public final class SoftmaxCrossEntropy {
    public static final int IGNORE_INDEX = -100;

    private INDArray probs;  // [N, C]
    private int[] targets;   // [N]
    private int counted;

    /** logits [N, C], targets [N] → mean loss over the rows that are not ignored (0 when all are). */
    public double forward(INDArray logits, int[] targets) {
        long classes = logits.columns();
        if (targets.length != logits.rows()) {
            throw new IllegalArgumentException(targets.length + " targets for " + logits.rows() + " rows of logits");
        }
        long n = logits.rows();
        // log p[t] = (z[t] − max z) − log Σ exp(z − max z): stable even where p[t] underflows.
        INDArray shifted = HeldOps.columns(HeldOps.Op.SUB, logits, HeldOps.max(logits, 1), logits.ulike());
        double[] shiftedTarget = new double[targets.length];
        for (int i = 0; i < targets.length; i++) {
            int t = targets[i];
            if (t == IGNORE_INDEX) continue;
            if (t < 0 || t >= classes) throw new IllegalArgumentException("target " + t + " at row " + i + " is outside [0, " + classes + ")");
            shiftedTarget[i] = shifted.getDouble(i, t);
        }
        probs = Transforms.exp(shifted, false);
        INDArray sums = HeldOps.sum(probs, 1).reshape(n, 1);
        HeldOps.columns(HeldOps.Op.DIV, probs, sums, probs);
        this.targets = targets;
        counted = 0;
        double sum = 0;
        for (int i = 0; i < targets.length; i++) {
            if (targets[i] == IGNORE_INDEX) continue;
            sum += Math.log(sums.getDouble(i, 0)) - shiftedTarget[i];
            counted++;
        }
        return counted == 0 ? 0.0 : sum / counted;
    }

    /** d loss / d logits, [N, C]. */
    public INDArray backward() {
        INDArray dlogits = probs.dup();
        for (int i = 0; i < targets.length; i++) {
            if (targets[i] == IGNORE_INDEX) {
                dlogits.getRow(i).assign(0);
            } else {
                dlogits.putScalar(i, targets[i], dlogits.getDouble(i, targets[i]) - 1.0);
            }
        }
        return counted == 0 ? dlogits.assign(0) : dlogits.muli(1.0 / counted);
    }

    public int counted() { return counted; }

    public INDArray probabilities() { return probs; }
}
