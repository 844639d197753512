package io.lorafleet.train;

import io.lorafleet.nn.ParamRegistry;
import io.lorafleet.optim.Optimizer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.Serializable;
import java.util.List;
import java.util.function.Function;

/**
 * Everything that changes during LoRA training, and nothing frozen: the flat trainable vector (A, B, the
 * head), the optimizer's flat state (Adam's m and v; empty for SGD) and the number of steps taken.
 * This is what data-parallel averaging moves and what checkpoints hold.
 */
public record TrainState(float[] values, float[] optimizerState, int steps) implements Serializable {
    public static TrainState of(Trainer trainer) {
        return of(trainer.model().params(), trainer.optimizer(), trainer.stepsDone());
    }

    public static TrainState of(ParamRegistry params, Optimizer optimizer, int steps) {
        INDArray state = optimizer.state();
        return new TrainState(params.values().toFloatVector(), state == null ? new float[0] : state.toFloatVector(), steps);
    }

    /**
     * Puts this state into the trainer's model and optimizer (same shapes required); an empty optimizer
     * state means fresh (zero) moments.
     */
    public void applyTo(Trainer trainer) {
        applyTo(trainer.model().params(), trainer.optimizer());
        trainer.setStepsDone(steps);
    }

    /** Puts the values and optimizer state into a registry and its optimizer; without optimizer state, Adam restarts at this state's step. */
    public void applyTo(ParamRegistry params, Optimizer optimizer) {
        INDArray target = params.values();
        if (target.length() != values.length) {
            throw new IllegalArgumentException("state has " + values.length + " trainable values, the model " + target.length());
        }
        target.assign(Nd4j.createFromArray(values).castTo(target.dataType()));
        INDArray state = optimizer.state();
        long expected = state == null ? 0 : state.length();
        if (optimizerState.length > 0 && expected != optimizerState.length) {
            throw new IllegalArgumentException("state has " + optimizerState.length + " optimizer values, the optimizer " + expected);
        }
        // no optimizer state (optimizer_state: reset, or a first round): Adam starts afresh at this state's step
        if (state != null && optimizerState.length > 0) optimizer.continueMoments(Nd4j.createFromArray(optimizerState).castTo(state.dataType()));
        else optimizer.restartMoments(steps);
    }

    /**
     * Data-parallel averaging: Σ wᵢ·θᵢ / Σ wᵢ of the values and of the optimizer states (weights: each worker's
     * examples, uneven when an epoch's last batch is short), summed in double in the given order so that the same
     * states in the same order give the same bits. The steps are the first state's (every worker took as many).
     */
    public static TrainState weightedMean(List<TrainState> states, long[] weights) {
        if (states.isEmpty() || states.size() != weights.length) throw new IllegalArgumentException(states.size() + " states, " + weights.length + " weights");
        TrainState first = states.get(0);
        double total = 0;
        for (int i = 0; i < states.size(); i++) {
            TrainState s = states.get(i);
            if (s.values.length != first.values.length || s.optimizerState.length != first.optimizerState.length) {
                throw new IllegalArgumentException("state " + i + " has " + s.values.length + " + " + s.optimizerState.length + " values, state 0 "
                        + first.values.length + " + " + first.optimizerState.length);
            }
            total += weights[i];
        }
        if (!(total > 0)) throw new IllegalArgumentException("the weights sum to " + total);
        return new TrainState(mean(states, weights, total, TrainState::values), mean(states, weights, total, TrainState::optimizerState), first.steps);
    }

    private static float[] mean(List<TrainState> states, long[] weights, double total, Function<TrainState, float[]> part) {
        double[] sum = new double[part.apply(states.get(0)).length];
        for (int s = 0; s < states.size(); s++) {
            float[] v = part.apply(states.get(s));
            for (int i = 0; i < sum.length; i++) sum[i] += weights[s] * (double) v[i];
        }
        float[] mean = new float[sum.length];
        for (int i = 0; i < sum.length; i++) mean[i] = (float) (sum[i] / total);
        return mean;
    }

    public boolean finite() {
        for (float v : values) if (!Float.isFinite(v)) return false;
        for (float v : optimizerState) if (!Float.isFinite(v)) return false;
        return true;
    }

    /** Bytes of the payload (4 per float). */
    public long bytes() {
        return 4L * (values.length + optimizerState.length);
    }
}
