package io.lorafleet.spark;

import io.lorafleet.train.TrainState;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Parameter averaging weighs each worker by the examples it trained on (an epoch's last, short batch makes partitions uneven). */
class WaveDriverTest {
    private static TrainWorker.AdapterResult worker(long examples, float[] values, float[] moments) {
        return new TrainWorker.AdapterResult(new TrainState(values, moments, 12), examples, 0.5 * examples, 100 * examples, -1, null, null);
    }

    @Test
    void unevenPartitionsAreAveragedByTheirExamplesInDoubleInPartitionOrder() {
        float[] a = {1.0f, -3.0f, 0.1f}, b = {4.0f, 5.0f, 0.7f}, c = {-2.0f, 0.25f, 1e-7f};
        float[] ma = {0.5f, 2f}, mb = {1.5f, -4f}, mc = {0f, 1f};
        TrainState mean = WaveDriver.average(List.of(worker(16, a, ma), worker(8, b, mb), worker(3, c, mc)));
        float[] expected = new float[3], moments = new float[2];
        for (int i = 0; i < 3; i++) expected[i] = (float) ((16.0 * a[i] + 8.0 * b[i] + 3.0 * c[i]) / 27.0);
        for (int i = 0; i < 2; i++) moments[i] = (float) ((16.0 * ma[i] + 8.0 * mb[i] + 3.0 * mc[i]) / 27.0);
        assertArrayEquals(expected, mean.values(), 0f, "Σ nᵢ·θᵢ / Σ nᵢ, not the plain mean");
        assertArrayEquals(moments, mean.optimizerState(), 0f, "Adam's moments are averaged by the same weights");
        assertEquals(12, mean.steps());

        TrainState reset = WaveDriver.average(List.of(worker(16, a, new float[0]), worker(8, b, new float[0])));
        assertEquals(0, reset.optimizerState().length, "optimizer_state: reset moves and averages no moments");
    }
}
