package io.lorafleet.train;

import java.io.Serializable;
import java.util.List;

/**
 * Decides whether a round of training is accepted or rolled back. A round is rejected when its loss exceeds
 * {@code lossFactor} times the larger of the running median of accepted rounds' losses and the task's chance
 * loss (ln of the number of classes, or of the vocabulary for a causal LM: what an untrained model scores, so
 * the very first rounds are judged too, and a noisy batch late in training, when the median is tiny, is not
 * divergence); or when its update ‖θ_new − θ_old‖ exceeds {@code updateFactor} times the median of accepted
 * updates, once {@code afterRounds} of them are known. Non-finite losses, gradient norms and states are rejected
 * before the guard is asked. A rejected round leaves the last accepted state in place.
 *
 * @param lossFactor   how many times the reference loss a round's loss may reach (default 10)
 * @param updateFactor how many times the median accepted update a round's update may reach (default 100)
 * @param afterRounds  accepted updates known before the update check starts (default 3)
 */
public record DivergenceGuard(Double lossFactor, Double updateFactor, Integer afterRounds) implements Serializable {
    public DivergenceGuard {
        lossFactor = lossFactor == null ? 10.0 : lossFactor;
        updateFactor = updateFactor == null ? 100.0 : updateFactor;
        afterRounds = afterRounds == null ? 3 : afterRounds;
        if (!(lossFactor > 1)) throw new IllegalArgumentException("divergence.loss_factor: must be > 1, is " + lossFactor);
        if (!(updateFactor > 1)) throw new IllegalArgumentException("divergence.update_factor: must be > 1, is " + updateFactor);
        if (afterRounds < 1) throw new IllegalArgumentException("divergence.after_rounds: must be >= 1, is " + afterRounds);
    }

    /**
     * Why the round must be rejected (the trigger and its values), or null to accept it.
     *
     * @param chanceLoss      the task's loss at chance, ln(classes) or ln(vocabulary)
     * @param acceptedLosses  the losses of the accepted rounds so far, in order
     * @param acceptedUpdates their update norms (NaN where unknown, e.g. the first round)
     */
    public String check(double loss, double chanceLoss, double updateNorm, List<Double> acceptedLosses, List<Double> acceptedUpdates) {
        double reference = acceptedLosses.isEmpty() ? chanceLoss : Math.max(median(acceptedLosses), chanceLoss);
        if (loss > lossFactor * reference) {
            return String.format("loss %.6g exceeds %s × %.6g (the larger of the accepted rounds' median loss and the chance loss %.6g)", loss,
                    trim(lossFactor), reference, chanceLoss);
        }
        List<Double> known = acceptedUpdates.stream().filter(Double::isFinite).toList();
        if (Double.isFinite(updateNorm) && known.size() >= afterRounds && updateNorm > updateFactor * median(known)) {
            return String.format("update norm %.6g exceeds %s × %.6g (the accepted rounds' median update norm)", updateNorm, trim(updateFactor),
                    median(known));
        }
        return null;
    }

    /**
     * Why an update must be rejected whatever the history: it moved the weights by more than {@code updateFactor} times
     * their own norm in one round (an explosion, which the loss measured before the update cannot show yet); or null.
     */
    public String checkUpdate(double updateNorm, double stateNorm) {
        if (Double.isFinite(updateNorm) && stateNorm > 0 && updateNorm > updateFactor * stateNorm) {
            return String.format("update norm %.6g exceeds %s × the weights' norm %.6g", updateNorm, trim(updateFactor), stateNorm);
        }
        return null;
    }

    /** ‖values‖₂ of the trainable values. */
    public static double norm(TrainState state) {
        double sum = 0;
        for (float v : state.values()) sum += (double) v * v;
        return Math.sqrt(sum);
    }

    /** ‖after − before‖₂ of the trainable values. */
    public static double updateNorm(TrainState before, TrainState after) {
        double sum = 0;
        for (int i = 0; i < after.values().length; i++) {
            double d = (double) after.values()[i] - before.values()[i];
            sum += d * d;
        }
        return Math.sqrt(sum);
    }

    private static double median(List<Double> values) {
        double[] sorted = values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    private static String trim(double factor) {
        return factor == Math.rint(factor) ? Long.toString((long) factor) : Double.toString(factor);
    }
}
