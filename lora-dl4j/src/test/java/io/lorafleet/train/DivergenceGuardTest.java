package io.lorafleet.train;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Which finite rounds the guard rejects, and which it must let through. */
class DivergenceGuardTest {
    static final double CHANCE = Math.log(2);
    final DivergenceGuard guard = new DivergenceGuard(null, null, null);
    final List<Double> losses = List.of(0.69, 0.61, 0.52, 0.40), updates = List.of(Double.NaN, 0.8, 0.7, 0.6);

    @Test
    void anExplodingLossOrUpdateIsRejectedNamingTheTriggerAndValues() {
        assertEquals("loss 1.16000e+06 exceeds 10 × 0.693147 (the larger of the accepted rounds' median loss and the chance loss 0.693147)",
                guard.check(1.16e6, CHANCE, 0.5, losses, updates));
        assertEquals("update norm 5.00000e+09 exceeds 100 × 0.700000 (the accepted rounds' median update norm)",
                guard.check(0.45, CHANCE, 5e9, losses, updates));
    }

    @Test
    void theFirstRoundIsJudgedAgainstTheChanceLoss() {
        assertTrue(guard.check(5703734.0, CHANCE, Double.NaN, List.of(), List.of()).startsWith("loss 5.70373e+06 exceeds 10 × 0.693147"));
        assertNull(guard.check(0.9, CHANCE, Double.NaN, List.of(), List.of()));
    }

    @Test
    void ordinaryNoiseAndLateSpikesAreAccepted() {
        assertNull(guard.check(0.9, CHANCE, 2.0, losses, updates), "a bad batch above chance but below 10×");
        // late in training the median is tiny: a spike of 50× the median is still below 10× the chance loss
        List<Double> converged = List.of(0.69, 0.02, 0.01, 0.01, 0.01), small = List.of(Double.NaN, 0.3, 0.1, 0.1, 0.1);
        assertNull(guard.check(0.5, CHANCE, 0.1, converged, small));
        assertTrue(guard.check(7.0, CHANCE, 0.1, converged, small).startsWith("loss 7.00000"));
        // a causal LM's chance loss is ln(vocabulary): 10.3 for MiniLM's 30,522 tokens
        assertNull(guard.check(40.0, Math.log(30522), 0.1, List.of(), List.of()));
    }

    @Test
    void updatesAreJudgedOnlyOnceEnoughAreKnown() {
        assertNull(guard.check(0.5, CHANCE, 1e9, List.of(0.69, 0.6, 0.6), List.of(Double.NaN, 0.5, 0.5)), "2 known updates < after_rounds 3");
        assertTrue(new DivergenceGuard(null, null, 2).check(0.5, CHANCE, 1e9, List.of(0.69, 0.6, 0.6), List.of(Double.NaN, 0.5, 0.5))
                .startsWith("update norm"));
    }

    @Test
    void anUpdateLargerThanTheWeightsThemselvesIsAnExplosionFromTheFirstRound() {
        assertEquals("update norm 5.00000e+09 exceeds 100 × the weights' norm 12.0000", guard.checkUpdate(5e9, 12));
        assertNull(guard.checkUpdate(3.0, 12), "an ordinary update");
        assertNull(guard.checkUpdate(Double.NaN, 12), "the first round: no previous state on the driver");
        assertEquals(13.0, DivergenceGuard.norm(new TrainState(new float[] {5, 12}, new float[0], 0)), 0.0);
    }

    @Test
    void updateNormIsTheEuclideanDistanceOfTheTrainableValues() {
        TrainState a = new TrainState(new float[] {1, 2, 3}, new float[0], 0), b = new TrainState(new float[] {4, 6, 3}, new float[] {9}, 1);
        assertEquals(5.0, DivergenceGuard.updateNorm(a, b), 0.0);
    }

    @Test
    void settingsAreChecked() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new DivergenceGuard(1.0, null, null));
        assertEquals("divergence.loss_factor: must be > 1, is 1.0", e.getMessage());
    }
}
