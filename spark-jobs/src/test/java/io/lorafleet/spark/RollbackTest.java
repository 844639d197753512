package io.lorafleet.spark;

import io.lorafleet.train.TrainState;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The divergence retry on its own: what a rejected round rolls back to, the learning rate, and when the retries run out. */
class RollbackTest {
    private static TrainState state(int steps) {
        return new TrainState(new float[] {steps}, new float[0], steps);
    }

    @Test
    void aRejectedRoundRollsBackPastTheStateItStartedFromAtHalfTheLearningRate() {
        Rollback r = new Rollback(2);
        TrainState initial = null, after0 = state(1), after1 = state(2);
        assertNull(r.trusted(), "nothing is trusted before a round's loss is accepted");
        r.accept(initial, 0);   // round 0 (from the initial state) accepted: it produced after0
        r.accept(after0, 1);    // round 1 accepted: after0's loss was fine; it produced after1
        assertTrue(r.reject(2)); // round 2 from after1 rejected: after1 is as suspect as round 2
        assertSame(after0, r.trusted());
        assertEquals(1, r.trustedRound(), "redo round 1 from after0");
        assertEquals(0.5, r.learningRateScale());
    }

    @Test
    void retriesCountAgainstTheRejectedRoundAndStartOverOncePastIt() {
        Rollback r = new Rollback(2);
        TrainState a = state(1), b = state(2);
        r.accept(null, 0);
        r.accept(a, 1);
        assertTrue(r.reject(2));
        r.accept(a, 1);            // redoing round 1 does not reset the count: round 2 is still the one rejected
        assertTrue(r.reject(2));
        assertEquals(0.25, r.learningRateScale());
        r.accept(a, 1);
        assertFalse(r.reject(2), "a third rejection of round 2 exceeds max_nan_retries 2");

        Rollback passing = new Rollback(1);
        passing.accept(null, 0);
        assertTrue(passing.reject(1));
        passing.accept(null, 0);
        passing.accept(a, 1);      // the rejected round itself accepted: the count starts over
        assertTrue(passing.reject(2));
        assertEquals(0.25, passing.learningRateScale(), "the learning rate stays lowered");

        Rollback latest = new Rollback(3);
        latest.accept(null, 0);
        assertTrue(latest.reject(5));
        latest.accept(a, 3);
        assertTrue(latest.reject(4)); // an earlier round rejected: the count still runs until round 5 is passed
        latest.accept(b, 4);
        assertTrue(latest.reject(5));
        assertFalse(latest.reject(5), "four rejections before round 5 was ever accepted");
    }

    @Test
    void aResumedRunTrustsItsCheckpoint() {
        Rollback r = new Rollback(1);
        TrainState checkpoint = state(40);
        r.resume(checkpoint, 5, 0.5);
        assertTrue(r.reject(5));
        assertSame(checkpoint, r.trusted());
        assertEquals(5, r.trustedRound());
        assertEquals(0.25, r.learningRateScale());
    }
}
