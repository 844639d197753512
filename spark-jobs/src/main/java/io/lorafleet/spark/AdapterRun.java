package io.lorafleet.spark;

import io.lorafleet.train.TrainState;
import io.lorafleet.train.Trainer;

import java.io.Serializable;
import java.util.List;
import java.util.Map;

/**
 * One adapter's outcome in a train run; {@code state} and the numbers are absent for a failed or already exported
 * adapter. What the run summary, the report and the exit code are made of.
 */
public record AdapterRun(String adapter, Status status, String failure, int wave, TrainConfig config, TrainState state, int rounds,
                         long examples, long tokens, double finalLoss, Trainer.Evaluation evaluation, double seconds, long broadcastBytes,
                         long resultBytes, String path, List<Map<String, Object>> history) implements Serializable {
    public enum Status { DONE, FAILED, EXISTING }

    public double accuracy() {
        return evaluation == null || evaluation.examples() == 0 ? Double.NaN : evaluation.correct() / (double) evaluation.examples();
    }

    static AdapterRun failed(String adapter, int wave, TrainConfig config, String reason) {
        return new AdapterRun(adapter, Status.FAILED, reason, wave, config, null, 0, 0, 0, Double.NaN, null, 0, 0, 0, null, List.of());
    }

    static AdapterRun existing(String adapter, TrainConfig config, int rounds, String path) {
        return new AdapterRun(adapter, Status.EXISTING, null, -1, config, null, rounds, 0, 0, Double.NaN, null, 0, 0, 0, path, List.of());
    }

    /** 0 when every adapter is done, {@link SparkJobs#PARTIAL_FAILURE} when some failed, 1 when all did. */
    static int exitCode(List<AdapterRun> runs) {
        long failed = runs.stream().filter(r -> r.status() == Status.FAILED).count();
        return failed == 0 ? 0 : failed == runs.size() ? 1 : SparkJobs.PARTIAL_FAILURE;
    }
}
