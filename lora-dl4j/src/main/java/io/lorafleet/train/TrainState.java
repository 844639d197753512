package io.lorafleet.train;

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
        INDArray state = trainer.optimizer().state();
        return new TrainState(trainer.model().params().values().toFloatVector(),
                state == null ? new float[0] : state.toFloatVector(), trainer.stepsDone());
    }

    /**
     * Puts this state into the trainer's model and optimizer (same shapes required); an empty optimizer
     * state means fresh (zero) moments.
     */
    public void applyTo(Trainer trainer) {
        INDArray target = trainer.model().params().values();
        if (target.length() != values.length) {
            throw new IllegalArgumentException("state has " + values.length + " trainable values, the model " + target.length());
        }
        target.assign(Nd4j.createFromArray(values).castTo(target.dataType()));
        INDArray state = trainer.optimizer().state();
        long expected = state == null ? 0 : state.length();
        if (optimizerState.length > 0 && expected != optimizerState.length) {
            throw new IllegalArgumentException("state has " + optimizerState.length + " optimizer values, the optimizer " + expected);
        }
        if (state != null && optimizerState.length > 0) state.assign(Nd4j.createFromArray(optimizerState).castTo(state.dataType()).reshape(state.shape()));
        else if (state != null) state.assign(0);
        trainer.setStepsDone(steps);
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
