package io.lorafleet.train;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Parameter averaging weighs each worker by the examples it trained on (an epoch's last, short batch makes partitions uneven). */
class TrainStateTest {
    @Test
    void unevenWorkersAreAveragedByTheirExamplesInDoubleInTheGivenOrder() {
        float[] a = {1.0f, -3.0f, 0.1f}, b = {4.0f, 5.0f, 0.7f}, c = {-2.0f, 0.25f, 1e-7f};
        float[] ma = {0.5f, 2f}, mb = {1.5f, -4f}, mc = {0f, 1f};
        TrainState mean = TrainState.weightedMean(List.of(new TrainState(a, ma, 12), new TrainState(b, mb, 12), new TrainState(c, mc, 12)),
                new long[] {16, 8, 3});
        float[] expected = new float[3], moments = new float[2];
        for (int i = 0; i < 3; i++) expected[i] = (float) ((16.0 * a[i] + 8.0 * b[i] + 3.0 * c[i]) / 27.0);
        for (int i = 0; i < 2; i++) moments[i] = (float) ((16.0 * ma[i] + 8.0 * mb[i] + 3.0 * mc[i]) / 27.0);
        assertArrayEquals(expected, mean.values(), 0f, "Σ nᵢ·θᵢ / Σ nᵢ, not the plain mean");
        assertArrayEquals(moments, mean.optimizerState(), 0f, "Adam's moments are averaged by the same weights");
        assertEquals(12, mean.steps());

        TrainState reset = TrainState.weightedMean(List.of(new TrainState(a, new float[0], 4), new TrainState(b, new float[0], 5)), new long[] {16, 8});
        assertEquals(0, reset.optimizerState().length, "optimizer_state: reset moves and averages no moments");
        assertEquals(4, reset.steps(), "the first state's steps");

        TrainState cancelling = TrainState.weightedMean(List.of(new TrainState(new float[] {1e8f}, new float[0], 1),
                new TrainState(new float[] {1f}, new float[0], 1), new TrainState(new float[] {-1e8f}, new float[0], 1)), new long[] {1, 1, 1});
        assertEquals(1f / 3, cancelling.values()[0], 0f, "summed in double: in float 1e8 + 1 - 1e8 would be 0");
    }

    @Test
    void statesOfDifferentShapesOrNoWeightAreRefused() {
        TrainState small = new TrainState(new float[2], new float[0], 1), large = new TrainState(new float[3], new float[0], 1);
        assertThrows(IllegalArgumentException.class, () -> TrainState.weightedMean(List.of(small, large), new long[] {1, 1}));
        assertThrows(IllegalArgumentException.class, () -> TrainState.weightedMean(List.of(small, small), new long[] {0, 0}));
        assertThrows(IllegalArgumentException.class, () -> TrainState.weightedMean(List.of(small), new long[] {1, 1}));
    }
}
