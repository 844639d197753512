package io.lorafleet.train;

import static io.lorafleet.nn.ExactArrays.assertBitIdentical;
import io.lorafleet.model.ModelWeights;
import io.lorafleet.model.SequenceClassifier;
import io.lorafleet.model.TokenBatch;
import io.lorafleet.model.TransformerConfig;
import io.lorafleet.nn.Initializer;
import io.lorafleet.nn.Linear;
import io.lorafleet.nn.LoraConfig;
import io.lorafleet.nn.LoraLinear;
import io.lorafleet.nn.Param;
import io.lorafleet.nn.ParamRegistry;
import io.lorafleet.optim.Optimizer;
import io.lorafleet.optim.OptimizerConfig;
import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static io.lorafleet.nn.GradientCheck.randn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TrainerTest {
    static final TransformerConfig SMALL = TransformerConfig.bert(50, 32, 2, 4, 64, 32);

    /** Sequences of varying length with a learnable rule: label 1 iff token 7 occurs. */
    static TokenBatch ruleBatch(SplittableRandom r, int batch, int seqLen) {
        int[] ids = new int[batch * seqLen], mask = new int[batch * seqLen], labels = new int[batch];
        for (int b = 0; b < batch; b++) {
            int len = 4 + r.nextInt(seqLen - 3);
            labels[b] = r.nextInt(2);
            for (int t = 0; t < len; t++) {
                ids[b * seqLen + t] = t == 0 ? 1 : 10 + r.nextInt(40);
                mask[b * seqLen + t] = 1;
            }
            if (labels[b] == 1) ids[b * seqLen + 1 + r.nextInt(len - 1)] = 7;
        }
        return new TokenBatch(batch, seqLen, ids, null, mask, labels);
    }

    static SequenceClassifier smallModel(DataType dtype, double dropout, long seed) {
        LoraConfig lora = new LoraConfig(4, 8, dropout, List.of("query", "value"), false, LoraConfig.Init.KAIMING_UNIFORM, Map.of(), Map.of(), false);
        return SequenceClassifier.create(SMALL, ModelWeights.random(SMALL, dtype, 3), lora, 2, SequenceClassifier.Pooling.MEAN, seed);
    }

    @Test
    void rankRTargetIsReachedExactlyAndTheBaseWeightNeverChanges() {
        int in = 12, out = 10, r = 3, n = 64;
        INDArray w0 = randn(1, out, in).castTo(DataType.FLOAT).muli(0.5);
        INDArray deltaW = randn(2, out, r).mmul(randn(3, r, in)).castTo(DataType.FLOAT).muli(0.3); // rank r
        INDArray x = randn(4, n, in).castTo(DataType.FLOAT);
        INDArray target = x.mmul(w0.add(deltaW).transpose());
        INDArray w0Before = w0.dup();

        ParamRegistry reg = new ParamRegistry();
        Linear base = new Linear(Param.frozen("w", w0), null);
        LoraLinear lora = new LoraLinear(base, reg.trainable("w.lora_A.weight", new long[] {r, in}, Initializer.KAIMING_UNIFORM),
                reg.trainable("w.lora_B.weight", new long[] {out, r}, Initializer.ZEROS), 1.0, 0, 1);
        reg.allocate(DataType.FLOAT, 5);
        Optimizer adam = new Optimizer(new OptimizerConfig(OptimizerConfig.Kind.ADAM, 0.02, 0.9, 0.999, 1e-8, 0, 0, 0, 3000,
                OptimizerConfig.Decay.COSINE, 1), reg);
        double loss = Double.NaN;
        for (int step = 0; step < 3000; step++) {
            reg.zeroGrads();
            INDArray diff = lora.forward(x).subi(target);
            loss = diff.mul(diff).meanNumber().doubleValue();
            lora.backward(diff.muli(2.0 / diff.length()), false);
            adam.step(step);
        }
        System.out.printf("rank-%d regression: final MSE %.3e%n", r, loss);
        assertTrue(loss < 1e-6, "MSE " + loss);
        assertBitIdentical(w0Before, w0, "frozen W");
    }

    @Test
    void sameSeedGivesBitIdenticalAdapters() {
        INDArray[] finals = new INDArray[2];
        for (int run = 0; run < 2; run++) {
            SequenceClassifier model = smallModel(DataType.FLOAT, 0.1, 42);
            Trainer trainer = new Trainer(model, OptimizerConfig.adam(1e-3));
            SplittableRandom data = new SplittableRandom(7);
            for (int s = 0; s < 20; s++) trainer.step(ruleBatch(data, 8, 16));
            finals[run] = model.params().values().dup();
        }
        assertBitIdentical(finals[0], finals[1], "two runs with one seed");
        SequenceClassifier other = smallModel(DataType.FLOAT, 0.1, 43);
        assertTrue(!other.params().values().equals(smallModel(DataType.FLOAT, 0.1, 42).params().values()), "seed has no effect");
    }

    @Test
    void trainingLearnsASimpleRule() {
        SequenceClassifier model = smallModel(DataType.FLOAT, 0.0, 1);
        Trainer trainer = new Trainer(model, OptimizerConfig.adam(3e-3));
        SplittableRandom data = new SplittableRandom(3);
        TokenBatch heldOut = ruleBatch(new SplittableRandom(99), 64, 16);
        double before = trainer.evaluate(heldOut);
        for (int s = 0; s < 150; s++) trainer.step(ruleBatch(data, 16, 16));
        double after = trainer.evaluate(heldOut);
        System.out.printf("rule task: held-out loss %.4f → %.4f%n", before, after);
        assertTrue(after < 0.5 * before, "held-out loss " + before + " → " + after);
    }

    /** ND4J's off-heap bytes once the GC and ND4J's deallocator threads have caught up (readings settle). */
    private static long offHeapAfterGc() {
        long previous = -1;
        for (int i = 0; i < 20; i++) {
            System.gc();
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            long now = Pointer.totalBytes();
            if (now == previous) return now;
            previous = now;
        }
        return previous;
    }

    @Test
    void offHeapMemoryIsFlatOverManySteps() {
        SequenceClassifier model = smallModel(DataType.FLOAT, 0.1, 5);
        Trainer trainer = new Trainer(model, OptimizerConfig.adam(1e-3));
        SplittableRandom data = new SplittableRandom(11);
        List<TokenBatch> batches = new java.util.ArrayList<>();
        for (int i = 0; i < 10; i++) batches.add(ruleBatch(data, 16, 32));
        for (int s = 0; s < 50; s++) trainer.step(batches.get(s % batches.size()));
        long totalAfterWarmup = offHeapAfterGc();
        long rssAfterWarmup = Pointer.physicalBytes();
        long spilledAfterWarmup = trainer.stepWorkspace().getSpilledSize();
        for (int s = 50; s < 600; s++) trainer.step(batches.get(s % batches.size()));
        long spilled = trainer.stepWorkspace().getSpilledSize() - spilledAfterWarmup;
        long totalGrowth = offHeapAfterGc() - totalAfterWarmup;
        long rssGrowth = Pointer.physicalBytes() - rssAfterWarmup;
        System.out.printf("550 steps after warm-up: ND4J off-heap %+d KiB, RSS %+d KiB, workspace spills %d B (workspace %d KiB)%n",
                totalGrowth / 1024, rssGrowth / 1024, spilled, trainer.stepWorkspace().getCurrentSize() / 1024);
        assertEquals(0, spilled, "steps allocated activations outside their workspace");
        assertTrue(totalGrowth < 4L << 20, "off-heap bytes grew by " + totalGrowth);
        // RSS also holds the Java heap, which ND4J M2.1's deallocation bookkeeping grows up to -Xmx (bounded, not a leak);
        // the failure this guards against is per-step activation memory, ~10 MiB a step here.
        assertTrue(rssGrowth < 1L << 30, "RSS grew by " + rssGrowth);
    }
}
