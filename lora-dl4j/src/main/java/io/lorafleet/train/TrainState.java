package io.lorafleet.train;

import io.lorafleet.nn.ParamRegistry;
import io.lorafleet.optim.Optimizer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.Serializable;

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
