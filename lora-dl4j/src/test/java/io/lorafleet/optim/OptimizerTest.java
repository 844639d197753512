package io.lorafleet.optim;

import io.lorafleet.nn.Initializer;
import io.lorafleet.nn.ParamRegistry;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OptimizerTest {
    private static ParamRegistry registry() {
        ParamRegistry reg = new ParamRegistry();
        reg.trainable("m.lora_A.weight", new long[] {2, 3}, Initializer.gaussian(1));
        reg.trainable("m.lora_B.weight", new long[] {3, 2}, Initializer.gaussian(1));
        reg.trainable("classifier.weight", new long[] {2, 3}, Initializer.gaussian(1));
        reg.allocate(DataType.DOUBLE, 1);
        return reg;
    }

    @Test
    void adamStateCoversTrainableTensorsOnly() {
        ParamRegistry reg = registry();
        Optimizer adam = new Optimizer(OptimizerConfig.adam(1e-3), reg);
        assertEquals(2 * reg.size(), adam.state().length(), "m and v for each trainable element");
        assertNull(new Optimizer(OptimizerConfig.sgd(0.1), reg).state(), "plain SGD keeps no state");
    }

    @Test
    void sgdStepIsMinusLearningRateTimesGradient() {
        ParamRegistry reg = registry();
        INDArray before = reg.values().dup();
        reg.grads().assign(2.0);
        new Optimizer(OptimizerConfig.sgd(0.25), reg).step(0);
        assertTrue(reg.values().equalsWithEps(before.sub(0.5), 1e-12));
    }

    @Test
    void restartedMomentsStepLikeAFreshAdamWhileTheScheduleGoesOn() {
        // optimizer_state: reset restarts Adam at step k of a run: its bias correction must count from k (with the
        // run's step, 1 − β^t ≈ 1 makes the first update 0.1·g / (√0.001·|g|) ≈ 3.2 × the learning rate)
        ParamRegistry fresh = registry(), restarted = registry();
        restarted.values().assign(fresh.values());
        Optimizer first = new Optimizer(OptimizerConfig.adam(0.01), fresh);
        Optimizer later = new Optimizer(OptimizerConfig.adam(0.01), restarted);
        for (int step = 0; step < 50; step++) {
            restarted.grads().assign(0.7);
            later.step(step);
        }
        // what each round of optimizer_state: reset does: the round's state, without moments, at the run's step
        new io.lorafleet.train.TrainState(fresh.values().toFloatVector(), new float[0], 50).applyTo(restarted, later);
        fresh.values().assign(restarted.values()); // the same (float-rounded) start
        fresh.grads().assign(0.3);
        restarted.grads().assign(0.3);
        first.step(0);
        later.step(50);
        io.lorafleet.nn.ExactArrays.assertBitIdentical(fresh.values(), restarted.values(), "values after a restarted step");
        io.lorafleet.nn.ExactArrays.assertBitIdentical(first.state(), later.state(), "moments after a restarted step");

        // the schedule still sees the run's step: linear decay over 100 steps is at half its rate at step 50
        OptimizerConfig decaying = new OptimizerConfig(OptimizerConfig.Kind.ADAMW, 0.01, 0.9, 0.999, 1e-8, 0, 0, 0, 100, OptimizerConfig.Decay.LINEAR, 1);
        ParamRegistry reg = registry();
        INDArray before = reg.values().dup();
        Optimizer o = new Optimizer(decaying, reg);
        o.restartMoments(50);
        reg.grads().assign(0.3);
        o.step(50);
        assertTrue(reg.values().equalsWithEps(before.sub(0.005), 1e-7), reg.values().sub(before).toString());
    }

    @Test
    void adamFirstStepMovesEachElementByTheLearningRate() {
        ParamRegistry reg = registry();
        INDArray before = reg.values().dup();
        reg.grads().assign(0.3);
        new Optimizer(OptimizerConfig.adam(0.01), reg).step(0);
        // bias-corrected m/√v = g/|g| on the first step (up to Adam's epsilon)
        assertTrue(reg.values().equalsWithEps(before.sub(0.01), 1e-7), reg.values().sub(before).toString());
    }

    @Test
    void adamWDecaysLoraTensorsAndNotTheHead() {
        ParamRegistry reg = registry();
        INDArray before = reg.values().dup();
        OptimizerConfig cfg = new OptimizerConfig(OptimizerConfig.Kind.ADAMW, 0.1, 0.9, 0.999, 1e-8, 0.5, 0, 0, 0, OptimizerConfig.Decay.CONSTANT, 1);
        reg.grads().assign(0); // zero gradient: Adam's step is 0, only the decay acts
        new Optimizer(cfg, reg).step(0);
        assertTrue(reg.get("m.lora_A.weight").value().equalsWithEps(before.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(0, 6)).reshape(2, 3).mul(0.95), 1e-12));
        assertTrue(reg.get("m.lora_B.weight").value().equalsWithEps(before.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(6, 12)).reshape(3, 2).mul(0.95), 1e-12));
        assertTrue(reg.get("classifier.weight").value().equalsWithEps(before.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(12, 18)).reshape(2, 3), 0));
    }

    @Test
    void loraPlusMovesBAtItsRatioOfTheLearningRateAndDecaysItSo() {
        // Adam's first step moves each element by its learning rate: A and the head's weight by lr, B (LoRA+) and the head's bias by 16 lr
        ParamRegistry reg = new ParamRegistry();
        reg.trainable("m.lora_A.weight", new long[] {2, 3}, Initializer.gaussian(1));
        reg.trainable("m.lora_B.weight", new long[] {3, 2}, Initializer.gaussian(1));
        reg.trainable("classifier.weight", new long[] {2, 3}, Initializer.gaussian(1));
        reg.trainable("classifier.bias", new long[] {2}, Initializer.gaussian(1));
        reg.allocate(DataType.DOUBLE, 1);
        INDArray before = reg.values().dup();
        reg.grads().assign(0.3);
        new Optimizer(new OptimizerConfig(OptimizerConfig.Kind.ADAM, 0.01, 0.9, 0.999, 1e-8, 0, 0, 0, 0, OptimizerConfig.Decay.CONSTANT, 16), reg).step(0);
        INDArray moved = before.sub(reg.values());
        assertTrue(moved.get(NDArrayIndex.interval(0, 6)).dup().equalsWithEps(Nd4j.zeros(DataType.DOUBLE, 6).addi(0.01), 1e-6), "A: " + moved);
        assertTrue(moved.get(NDArrayIndex.interval(6, 12)).dup().equalsWithEps(Nd4j.zeros(DataType.DOUBLE, 6).addi(0.16), 1e-6), "B: " + moved);
        assertTrue(moved.get(NDArrayIndex.interval(12, 18)).dup().equalsWithEps(Nd4j.zeros(DataType.DOUBLE, 6).addi(0.01), 1e-6), "head weight: " + moved);
        assertTrue(moved.get(NDArrayIndex.interval(18, 20)).dup().equalsWithEps(Nd4j.zeros(DataType.DOUBLE, 2).addi(0.16), 1e-6), "head bias: " + moved);

        // AdamW's decoupled decay of B at B's rate, as in a parameter group of its own (PEFT's create_loraplus_optimizer)
        ParamRegistry decayed = registry();
        INDArray start = decayed.values().dup();
        decayed.grads().assign(0);
        new Optimizer(new OptimizerConfig(OptimizerConfig.Kind.ADAMW, 0.1, 0.9, 0.999, 1e-8, 0.5, 0, 0, 0, OptimizerConfig.Decay.CONSTANT, 4), decayed).step(0);
        INDArray kept = decayed.values().div(start);
        assertTrue(kept.get(NDArrayIndex.interval(0, 6)).dup().equalsWithEps(Nd4j.zeros(DataType.DOUBLE, 6).addi(0.95), 1e-12), "A: " + kept);
        assertTrue(kept.get(NDArrayIndex.interval(6, 12)).dup().equalsWithEps(Nd4j.zeros(DataType.DOUBLE, 6).addi(0.8), 1e-12), "B: " + kept);
        assertTrue(kept.get(NDArrayIndex.interval(12, 18)).dup().equalsWithEps(Nd4j.zeros(DataType.DOUBLE, 6).addi(1.0), 0), "head: " + kept);
        var refused = assertThrows(IllegalArgumentException.class,
                () -> new OptimizerConfig(OptimizerConfig.Kind.ADAM, 0.1, 0.9, 0.999, 1e-8, 0, 0, 0, 0, OptimizerConfig.Decay.CONSTANT, 0));
        assertTrue(refused.getMessage().contains("optimizer.loraplus_lr_ratio"), refused.getMessage());
    }

    @Test
    void clippingScalesTheGlobalNorm() {
        ParamRegistry reg = registry();
        INDArray before = reg.values().dup();
        reg.grads().assign(1.0); // norm √18
        OptimizerConfig cfg = new OptimizerConfig(OptimizerConfig.Kind.SGD, 1.0, 0.9, 0.999, 1e-8, 0, 3.0, 0, 0, OptimizerConfig.Decay.CONSTANT, 1);
        double norm = new Optimizer(cfg, reg).step(0);
        assertEquals(Math.sqrt(18), norm, 1e-12);
        assertEquals(3.0, before.sub(reg.values()).norm2Number().doubleValue(), 1e-12);
    }

    @Test
    void warmupThenLinearAndCosineDecay() {
        WarmupDecaySchedule linear = new WarmupDecaySchedule(1.0, 4, 14, OptimizerConfig.Decay.LINEAR);
        assertEquals(0.25, linear.valueAt(0, 0), 1e-12);
        assertEquals(1.0, linear.valueAt(3, 0), 1e-12);
        assertEquals(1.0, linear.valueAt(4, 0), 1e-12);
        assertEquals(0.5, linear.valueAt(9, 0), 1e-12);
        assertEquals(0.0, linear.valueAt(14, 0), 1e-12);
        WarmupDecaySchedule cosine = new WarmupDecaySchedule(2.0, 0, 10, OptimizerConfig.Decay.COSINE);
        assertEquals(2.0, cosine.valueAt(0, 0), 1e-12);
        assertEquals(1.0, cosine.valueAt(5, 0), 1e-12);
        assertEquals(0.0, cosine.valueAt(10, 0), 1e-12);
    }

    @Test
    void badSettingsNameTheKey() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new OptimizerConfig(OptimizerConfig.Kind.ADAM, 0.1, 0.9, 0.999, 1e-8, 0.1, 0, 0, 0, OptimizerConfig.Decay.CONSTANT, 1));
        assertTrue(e.getMessage().contains("optimizer.weight_decay"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> OptimizerConfig.adam(-1));
        assertTrue(e.getMessage().contains("optimizer.learning_rate"), e.getMessage());
    }
}
