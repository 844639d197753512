package io.lorafleet.spark;

import io.lorafleet.train.TrainState;

/**
 * What one adapter falls back to when a round diverges (non-finite values, or what the DivergenceGuard rejects).
 * A round's loss is measured on the state it starts from, so the state the latest round produced is judged only by
 * the next round: a state becomes trusted (and only then may be checkpointed) once the round that starts from it is
 * accepted. A rejected round rolls back to the last trusted state — before the round that produced the state it
 * started from, which is as suspect as the round itself — and is redone from there at half the learning rate, up to
 * max_nan_retries times for the same rejected round.
 */
final class Rollback {
    private final int maxRetries;
    private TrainState trusted;
    private int trustedRound;
    private double learningRateScale = 1.0;
    private int retries;
    /** The round whose rejection the retries count: they start over once the redone rounds pass it. */
    private int rejectedRound;

    Rollback(int maxRetries) {
        this.maxRetries = maxRetries;
    }

    /** A resumed run trusts its checkpoint: {@code state}, from which round {@code round} starts. */
    void resume(TrainState state, int round, double learningRateScale) {
        trusted = state;
        trustedRound = round;
        this.learningRateScale = learningRateScale;
    }

    /** Round {@code round}, which started from {@code startedFrom}, was accepted: that state is now trusted. */
    void accept(TrainState startedFrom, int round) {
        trusted = startedFrom;
        trustedRound = round;
        if (round >= rejectedRound) retries = 0;
    }

    /**
     * Round {@code round} was rejected. True: redo from {@link #trustedRound()} with {@link #trusted()} at the halved
     * {@link #learningRateScale()}; false: the retries are used up and the adapter fails.
     */
    boolean reject(int round) {
        retries++;
        rejectedRound = Math.max(rejectedRound, round);
        if (retries > maxRetries) return false;
        learningRateScale *= 0.5;
        return true;
    }

    /** The last trusted state; null for the initial state (the model's own initialization). */
    TrainState trusted() {
        return trusted;
    }

    /** The round that starts from {@link #trusted()}. */
    int trustedRound() {
        return trustedRound;
    }

    double learningRateScale() {
        return learningRateScale;
    }
}
