package io.lorafleet.optim;

import org.nd4j.linalg.schedule.ISchedule;

/** Linear warm-up to the peak rate, then constant, linear or cosine decay to zero at the last step. */
public final class WarmupDecaySchedule implements ISchedule {
    private final double peak;
    private final int warmupSteps;
    private final int totalSteps;
    private final OptimizerConfig.Decay decay;

    public WarmupDecaySchedule(double peak, int warmupSteps, int totalSteps, OptimizerConfig.Decay decay) {
        this.peak = peak;
        this.warmupSteps = warmupSteps;
        this.totalSteps = totalSteps;
        this.decay = decay;
    }

    /** The rate of step {@code iteration} (0-based); the epoch plays no part. */
    @Override
    public double valueAt(int iteration, int epoch) {
        // step i of warm-up uses (i+1)/warmup, so the first step already moves (as Hugging Face's schedulers do after one step)
        if (iteration < warmupSteps) return peak * (iteration + 1) / warmupSteps;
        if (decay == OptimizerConfig.Decay.CONSTANT) return peak;
        double progress = Math.min(1.0, (double) (iteration - warmupSteps) / (totalSteps - warmupSteps));
        return decay == OptimizerConfig.Decay.LINEAR ? peak * (1 - progress) : peak * 0.5 * (1 + Math.cos(Math.PI * progress));
    }

    @Override
    public ISchedule clone() {
        return new WarmupDecaySchedule(peak, warmupSteps, totalSteps, decay);
    }
}
