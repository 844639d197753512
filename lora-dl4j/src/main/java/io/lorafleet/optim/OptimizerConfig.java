package io.lorafleet.optim;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;

import java.io.Serializable;

/**
 * How trainable tensors are updated. A config file's {@code optimizer:} block binds to it directly
 * ({@link #withDefaults}); the run's total steps are not a setting: the train job gives them ({@link #forRun}).
 *
 * @param kind          SGD, Adam, or AdamW (Adam with decoupled weight decay, Loshchilov &amp; Hutter 2019)
 * @param learningRate  peak learning rate, reached at the end of warm-up
 * @param beta1         Adam's first-moment decay
 * @param beta2         Adam's second-moment decay
 * @param epsilon       Adam's denominator epsilon
 * @param weightDecay   AdamW's decoupled decay per step, scaled by the current learning rate; applied to
 *                      LoRA A/B only, never to task heads
 * @param maxGradNorm   clip the global gradient L2 norm to this; 0 disables clipping
 * @param warmupSteps   linear warm-up from 0 to learningRate over this many steps
 * @param totalSteps    steps of the whole run; the decay reaches 0 here (ignored by CONSTANT)
 * @param decay         learning-rate shape after warm-up
 * @param loraplusLrRatio LoRA+ (Hayou et al. 2024, arXiv 2402.12354): LoRA's B matrices learn at this multiple of the
 *                      learning rate (their weight decay too, as in a parameter group of their own), A matrices and head
 *                      weights at the learning rate; biases with B, as PEFT's create_loraplus_optimizer groups the learning
 *                      rates (its weight decay, loraplus_weight_decay, defaults to none and decays heads too; ours decays
 *                      LoRA A/B only, as without LoRA+); 1 is plain LoRA
 */
public record OptimizerConfig(Kind kind, double learningRate, double beta1, double beta2, double epsilon,
                              double weightDecay, double maxGradNorm, int warmupSteps, int totalSteps, Decay decay,
                              @JsonInclude(value = JsonInclude.Include.CUSTOM, valueFilter = PlainLora.class) double loraplusLrRatio)
        implements Serializable {
    public enum Kind { SGD, ADAM, ADAMW }

    public enum Decay { CONSTANT, LINEAR, COSINE }

    public OptimizerConfig {
        if (!(learningRate > 0)) throw new IllegalArgumentException("optimizer.learning_rate must be > 0, got " + learningRate);
        if (!(beta1 >= 0 && beta1 < 1)) throw new IllegalArgumentException("optimizer.beta1 must be in [0, 1), got " + beta1);
        if (!(beta2 >= 0 && beta2 < 1)) throw new IllegalArgumentException("optimizer.beta2 must be in [0, 1), got " + beta2);
        if (!(epsilon > 0)) throw new IllegalArgumentException("optimizer.epsilon must be > 0, got " + epsilon);
        if (weightDecay < 0) throw new IllegalArgumentException("optimizer.weight_decay must be >= 0, got " + weightDecay);
        if (weightDecay > 0 && kind != Kind.ADAMW) throw new IllegalArgumentException("optimizer.weight_decay needs kind ADAMW, got " + kind);
        if (maxGradNorm < 0) throw new IllegalArgumentException("optimizer.max_grad_norm must be >= 0, got " + maxGradNorm);
        if (warmupSteps < 0) throw new IllegalArgumentException("optimizer.warmup_steps must be >= 0, got " + warmupSteps);
        if (!(loraplusLrRatio > 0 && Double.isFinite(loraplusLrRatio))) {
            throw new IllegalArgumentException("optimizer.loraplus_lr_ratio must be a finite number > 0, got " + loraplusLrRatio);
        }
        if (decay != Decay.CONSTANT && totalSteps <= warmupSteps) {
            throw new IllegalArgumentException("optimizer.total_steps (" + totalSteps + ") must exceed warmup_steps (" + warmupSteps + ") for " + decay + " decay");
        }
    }

    /**
     * The settings as a config file gives them, any left out (null): AdamW at 1e-3 with PyTorch's betas and epsilon, weight
     * decay 0.01 (0 for SGD and Adam), gradient norm clipped at 1, no warm-up, linear decay, no LoRA+ (ratio 1); total
     * steps not yet known.
     */
    @JsonCreator
    public static OptimizerConfig withDefaults(@JsonProperty("kind") Kind kind, @JsonProperty("learning_rate") Double learningRate,
                                               @JsonProperty("beta1") Double beta1, @JsonProperty("beta2") Double beta2,
                                               @JsonProperty("epsilon") Double epsilon, @JsonProperty("weight_decay") Double weightDecay,
                                               @JsonProperty("max_grad_norm") Double maxGradNorm, @JsonProperty("warmup_steps") Integer warmupSteps,
                                               @JsonProperty("decay") Decay decay, @JsonProperty("loraplus_lr_ratio") Double loraplusLrRatio) {
        Kind k = kind == null ? Kind.ADAMW : kind;
        return new OptimizerConfig(k, learningRate == null ? 1e-3 : learningRate, beta1 == null ? 0.9 : beta1, beta2 == null ? 0.999 : beta2,
                epsilon == null ? 1e-8 : epsilon, weightDecay == null ? (k == Kind.ADAMW ? 0.01 : 0.0) : weightDecay,
                maxGradNorm == null ? 1.0 : maxGradNorm, warmupSteps == null ? 0 : warmupSteps, Integer.MAX_VALUE, decay == null ? Decay.LINEAR : decay,
                loraplusLrRatio == null ? 1.0 : loraplusLrRatio);
    }

    /**
     * Leaves the LoRA+ ratio out of written configs when it is 1: a plain-LoRA config writes (and checkpoints fingerprint)
     * the same JSON as before LoRA+ existed, so their checkpoints still resume.
     */
    static final class PlainLora {
        @Override
        public boolean equals(Object value) {
            return value instanceof Double ratio && ratio == 1.0;
        }

        @Override
        public int hashCode() {
            return 1;
        }
    }

    public static OptimizerConfig defaults() {
        return withDefaults(null, null, null, null, null, null, null, null, null, null);
    }

    /** These settings for a run of {@code totalSteps}, at {@code learningRateScale} of the learning rate (lowered after a rejected round). */
    public OptimizerConfig forRun(int totalSteps, double learningRateScale) {
        return new OptimizerConfig(kind, learningRate * learningRateScale, beta1, beta2, epsilon, weightDecay, maxGradNorm, warmupSteps, totalSteps, decay,
                loraplusLrRatio);
    }

    /** Not a setting: the run decides it. */
    @JsonIgnore
    @Override
    public int totalSteps() {
        return totalSteps;
    }

    /** Adam with PyTorch's defaults and a constant learning rate. */
    public static OptimizerConfig adam(double learningRate) {
        return new OptimizerConfig(Kind.ADAM, learningRate, 0.9, 0.999, 1e-8, 0, 0, 0, 0, Decay.CONSTANT, 1);
    }

    public static OptimizerConfig sgd(double learningRate) {
        return new OptimizerConfig(Kind.SGD, learningRate, 0.9, 0.999, 1e-8, 0, 0, 0, 0, Decay.CONSTANT, 1);
    }
}
