package io.lorafleet.optim;

import io.lorafleet.nn.LoraDelta;
import io.lorafleet.nn.ParamRegistry;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.GradientUpdater;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.schedule.ISchedule;

/**
 * Updates a model's flat trainable vector with an ND4J updater. Its state (Adam's moments) is one flat
 * vector too, sized for the trainable tensors only: frozen weights have no optimizer state.
 */
public final class Optimizer {
    private final OptimizerConfig config;
    private final ParamRegistry params;
    private final WarmupDecaySchedule schedule;
    private final INDArray state;      // [stateSize]: Adam's m then v; empty for SGD
    private final GradientUpdater<?> updater;
    private final INDArray decayMask;  // [P]: 1 on LoRA A, the LoRA+ ratio on B, 0 elsewhere; null without weight decay
    private final INDArray rateMask;   // [P]: the LoRA+ ratio on LoRA B and biases, 1 elsewhere; null for plain LoRA
    private int momentsStart;          // the step Adam's moments last started from zero: its bias correction counts from there

    public Optimizer(OptimizerConfig config, ParamRegistry params) {
        this.config = config;
        this.params = params;
        this.schedule = new WarmupDecaySchedule(config.learningRate(), config.warmupSteps(), config.totalSteps(), config.decay());
        IUpdater u = config.kind() == OptimizerConfig.Kind.SGD
                ? new Sgd(schedule)
                : Adam.builder().learningRateSchedule(new FromMomentsStart()).beta1(config.beta1()).beta2(config.beta2()).epsilon(config.epsilon()).build();
        long p = params.values().length();
        long size = u.stateSize(p);
        this.state = size == 0 ? null : Nd4j.create(params.values().dataType(), 1, size);
        this.updater = u.instantiate(state, true);
        // LoRA+ groups as PEFT's create_loraplus_optimizer does: B and every one-dimensional tensor (biases) at the ratio
        this.rateMask = config.loraplusLrRatio() == 1 ? null
                : params.mask(t -> t.name().endsWith(LoraDelta.B_SUFFIX) || t.shape().length == 1).muli(config.loraplusLrRatio() - 1).addi(1);
        INDArray lora = config.weightDecay() > 0 ? params.mask(t -> t.name().endsWith(LoraDelta.A_SUFFIX) || t.name().endsWith(LoraDelta.B_SUFFIX)) : null;
        this.decayMask = lora == null || rateMask == null ? lora : lora.muli(rateMask);
    }

    /**
     * Applies one update from the accumulated gradients of step {@code step} (0-based), then leaves
     * the gradient buffer holding the applied update. Returns the gradient's L2 norm before clipping.
     */
    public double step(int step) {
        INDArray grads = params.grads();
        double norm = grads.norm2Number().doubleValue();
        if (config.maxGradNorm() > 0 && norm > config.maxGradNorm()) grads.muli(config.maxGradNorm() / norm);
        INDArray values = params.values();
        if (decayMask != null) {
            // decoupled weight decay: θ ← θ − lr·λ·θ on A/B, independent of the gradient's scale
            values.subi(values.mul(decayMask).muli(schedule.valueAt(step, 0) * config.weightDecay()));
        }
        updater.applyUpdater(grads.reshape(1, grads.length()), step - momentsStart, 0);
        if (rateMask != null) grads.muli(rateMask); // B's own learning rate: the update scales with it, Adam's moments do not
        values.subi(grads);
        return norm;
    }

    public double learningRate(int step) { return schedule.valueAt(step, 0); }

    /**
     * Starts Adam's moments from zero at {@code step}, as a fresh Adam would (its first update moves each value by
     * about the learning rate), while the learning-rate schedule goes on counting from step 0.
     */
    public void restartMoments(int step) {
        if (state != null) state.assign(0);
        momentsStart = step;
    }

    /** Moments that continue a run from its step 0 (averaged or checkpointed ones). */
    public void continueMoments(INDArray moments) {
        state.assign(moments.reshape(state.shape()));
        momentsStart = 0;
    }

    /**
     * The schedule as ND4J's Adam sees it: Adam takes one iteration number for both its bias correction and its rate,
     * so it is given the steps since the moments started and this adds them back for the rate.
     */
    private final class FromMomentsStart implements ISchedule {
        @Override
        public double valueAt(int iteration, int epoch) {
            return schedule.valueAt(iteration + momentsStart, epoch);
        }

        @Override
        public ISchedule clone() {
            return this;
        }
    }

    /** The updater's flat state (Adam: m then v), a live view for averaging and checkpoints; null for SGD. */
    public INDArray state() { return state; }

    public OptimizerConfig config() { return config; }
}
