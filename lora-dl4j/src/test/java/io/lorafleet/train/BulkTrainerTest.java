package io.lorafleet.train;

import io.lorafleet.model.CausalLm;
import io.lorafleet.model.ModelWeights;
import io.lorafleet.model.MultiAdapterModel;
import io.lorafleet.model.SequenceClassifier;
import io.lorafleet.model.TaskModel;
import io.lorafleet.model.TokenBatch;
import io.lorafleet.model.TransformerConfig;
import io.lorafleet.nn.LoraConfig;
import io.lorafleet.optim.OptimizerConfig;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Adapters trained together over one frozen body end where each ends when trained alone on the same batches. */
class BulkTrainerTest {
    static final TransformerConfig BERT = TransformerConfig.bert(31, 16, 2, 2, 24, 16);
    static final TransformerConfig GPT2 = TransformerConfig.gpt2(29, 16, 2, 2, 16);

    private record Adapter(MultiAdapterModel.AdapterSpec spec, OptimizerConfig optimizer, int batchSize) { }

    private static LoraConfig lora(int r, double alpha, double dropout, String... targets) {
        return new LoraConfig(r, alpha, dropout, List.of(targets), false, LoraConfig.Init.KAIMING_UNIFORM, Map.of(), Map.of(), false);
    }

    /** Three adapters that differ in rank, target modules, dropout, head, pooling, optimizer and batch size. */
    private static List<Adapter> encoderAdapters() {
        return List.of(
                new Adapter(new MultiAdapterModel.AdapterSpec(lora(2, 4, 0, "query", "value"), 3, SequenceClassifier.Pooling.MEAN, 11),
                        new OptimizerConfig(OptimizerConfig.Kind.ADAMW, 1e-2, 0.9, 0.999, 1e-8, 0.01, 1.0, 1, 6, OptimizerConfig.Decay.LINEAR, 1), 3),
                new Adapter(new MultiAdapterModel.AdapterSpec(lora(4, 8, 0.2, "query"), 2, SequenceClassifier.Pooling.CLS, 12),
                        OptimizerConfig.adam(5e-3), 2),
                new Adapter(new MultiAdapterModel.AdapterSpec(lora(1, 2, 0, "value", "attention.output.dense"), 4, SequenceClassifier.Pooling.MEAN, 13),
                        OptimizerConfig.sgd(0.1), 4));
    }

    /** Step s of adapter k: random sequences of varying lengths, right-padded; null where the adapter sits the step out. */
    private static List<List<TokenBatch>> schedule(List<Adapter> adapters, TransformerConfig config, int steps) {
        List<List<TokenBatch>> out = new ArrayList<>();
        SplittableRandom random = new SplittableRandom(99);
        for (int s = 0; s < steps; s++) {
            List<TokenBatch> step = new ArrayList<>();
            for (int k = 0; k < adapters.size(); k++) {
                boolean sitsOut = adapters.size() > 2 && ((s == 1 && k == 2) || (s == 2 && k == 0));
                step.add(sitsOut ? null : batch(random, adapters.get(k), config));
            }
            out.add(step);
        }
        return out;
    }

    private static TokenBatch batch(SplittableRandom random, Adapter adapter, TransformerConfig config) {
        int b = adapter.batchSize(), t = 4 + random.nextInt(6);
        int[] ids = new int[b * t], mask = new int[b * t];
        int[] labels = adapter.spec().causalLm() ? new int[b * t] : new int[b];
        for (int i = 0; i < b; i++) {
            int length = i == 0 ? t : 2 + random.nextInt(t - 1);
            for (int j = 0; j < length; j++) {
                ids[i * t + j] = 1 + random.nextInt(config.vocabSize() - 1);
                mask[i * t + j] = 1;
            }
            if (adapter.spec().causalLm()) System.arraycopy(ids, i * t, labels, i * t, t);
            else labels[i] = random.nextInt(adapter.spec().numLabels());
        }
        return new TokenBatch(b, t, ids, null, mask, labels);
    }

    private static TaskModel alone(TransformerConfig config, ModelWeights weights, MultiAdapterModel.AdapterSpec spec) {
        return spec.causalLm() ? CausalLm.create(config, weights, spec.lora(), spec.seed())
                : SequenceClassifier.create(config, weights, spec.lora(), spec.numLabels(), spec.pooling(), spec.seed());
    }

    /** Largest |together − alone| over every adapter's values and optimizer state, after training. */
    private static double trainBothWays(TransformerConfig config, DataType dtype, List<Adapter> adapters, int steps) {
        return trainBothWays(config, dtype, adapters, schedule(adapters, config, steps), Long.MAX_VALUE);
    }

    /**
     * The same on a given schedule, the bulk trainer's steps kept to {@code stepBudgetBytes} of activations: a step
     * runs whole without a budget, one pass per sequence with a budget of 1 byte, and otherwise in more than one pass when
     * every adapter (two or more) has a batch.
     */
    private static double trainBothWays(TransformerConfig config, DataType dtype, List<Adapter> adapters, List<List<TokenBatch>> schedule,
                                        long stepBudgetBytes) {
        ModelWeights weights = ModelWeights.random(config, dtype, 5);
        MultiAdapterModel model = MultiAdapterModel.create(config, weights, adapters.stream().map(Adapter::spec).toList());
        double worst = 0;
        try (BulkTrainer together = new BulkTrainer(model, adapters.stream().map(Adapter::optimizer).toList(), stepBudgetBytes)) {
            for (List<TokenBatch> step : schedule) {
                Trainer.StepResult[] results = together.step(step);
                for (int k = 0; k < step.size(); k++) assertEquals(step.get(k) == null, results[k] == null);
                long present = step.stream().filter(java.util.Objects::nonNull).count();
                int sequences = step.stream().filter(java.util.Objects::nonNull).mapToInt(TokenBatch::batchSize).sum();
                if (stepBudgetBytes == Long.MAX_VALUE) assertEquals(1, together.lastStepPasses(), "passes the step ran in");
                else if (stepBudgetBytes == 1) assertEquals(sequences, together.lastStepPasses(), "one pass per sequence");
                else if (present == adapters.size()) assertTrue(together.lastStepPasses() >= Math.min(2, present), together.lastStepPasses() + " passes for " + present + " adapters");
            }
            for (int k = 0; k < adapters.size(); k++) {
                try (Trainer alone = new Trainer(alone(config, weights, adapters.get(k).spec()), adapters.get(k).optimizer())) {
                    for (List<TokenBatch> step : schedule) if (step.get(k) != null) alone.step(step.get(k));
                    TrainState a = TrainState.of(alone), t = together.state(k);
                    assertEquals(a.steps(), t.steps());
                    assertEquals(a.values().length, t.values().length, "adapter " + k + " has the same trainable tensors");
                    double moved = maxAbs(a.values(), TrainState.of(new Trainer(alone(config, weights, adapters.get(k).spec()),
                            adapters.get(k).optimizer())).values());
                    assertTrue(moved > 1e-4, "adapter " + k + " trained (moved " + moved + ")");
                    System.out.printf("adapter %d: values %.2e, optimizer %.2e%n", k, maxAbs(a.values(), t.values()), maxAbs(a.optimizerState(), t.optimizerState()));
                    worst = Math.max(worst, Math.max(maxAbs(a.values(), t.values()), maxAbs(a.optimizerState(), t.optimizerState())));
                }
            }
        }
        return worst;
    }

    private static double maxAbs(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        double m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
        return m;
    }

    @Test
    void threeEncoderAdaptersTogetherEqualEachAloneInFloat64() {
        double worst = trainBothWays(BERT, DataType.DOUBLE, encoderAdapters(), 4);
        System.out.printf("encoder, float64: max |together - alone| = %.2e%n", worst);
        assertEquals(0.0, worst, "float64 states differ by " + worst);
    }

    @Test
    void doraPissaAndOloraAdaptersTogetherEqualEachAlone() {
        LoraConfig dora = new LoraConfig(2, 4, 0.2, List.of("query", "value"), false, LoraConfig.Init.KAIMING_UNIFORM, Map.of(), Map.of(), true);
        LoraConfig pissa = new LoraConfig(3, 6, 0, List.of("query", "attention.output.dense"), false, LoraConfig.Init.PISSA, Map.of(), Map.of(), false);
        LoraConfig oloraDora = new LoraConfig(2, 2, 0.1, List.of("value"), true, LoraConfig.Init.OLORA, Map.of(), Map.of(), true);
        List<Adapter> adapters = List.of(
                new Adapter(new MultiAdapterModel.AdapterSpec(dora, 3, SequenceClassifier.Pooling.MEAN, 11), OptimizerConfig.adam(1e-2), 3),
                new Adapter(new MultiAdapterModel.AdapterSpec(pissa, 2, SequenceClassifier.Pooling.CLS, 12), OptimizerConfig.adam(5e-3), 2),
                new Adapter(new MultiAdapterModel.AdapterSpec(oloraDora, 2, SequenceClassifier.Pooling.MEAN, 13), OptimizerConfig.sgd(0.1), 4));
        double worst = trainBothWays(BERT, DataType.DOUBLE, adapters, 4);
        System.out.printf("DoRA, PiSSA, OLoRA+DoRA, float64: max |together - alone| = %.2e%n", worst);
        assertEquals(0.0, worst, "float64 states differ by " + worst);
    }

    @Test
    void threeEncoderAdaptersTogetherEqualEachAloneInFloat32() {
        double worst = trainBothWays(BERT, DataType.FLOAT, encoderAdapters(), 4);
        System.out.printf("encoder, float32: max |together - alone| = %.2e%n", worst);
        assertTrue(worst < 3e-8, "float32 states differ by " + worst);
    }

    @Test
    void aStepOverItsMemoryBudgetRunsItsAdaptersInGroupsWithTheSameResult() {
        // the budget holds the largest batch alone, never all of a step's: adapters run in passes, each batch whole
        List<Adapter> adapters = encoderAdapters();
        List<List<TokenBatch>> schedule = schedule(adapters, BERT, 4);
        long largest = schedule.stream().flatMap(List::stream).filter(java.util.Objects::nonNull)
                .mapToLong(b -> BulkTrainer.stepBytes(new BulkTrainer.StepShape(BERT, false, 0), b.tokens(), b.squaredLengths())).max().orElseThrow();
        double worst = trainBothWays(BERT, DataType.DOUBLE, adapters, schedule, largest);
        System.out.printf("encoder, float64, adapters in passes: max |together - alone| = %.2e%n", worst);
        assertEquals(0.0, worst, "float64 states differ by " + worst);
    }

    @Test
    void aBatchOverTheBudgetAloneRunsInMicroBatchesWithTheSameGradient() {
        // a budget below one sequence: every sequence is a micro-batch of its own; an LM's ignored labels make the
        // micro-batches' loss terms unequal, so their weights matter (dropout off: masks are drawn per micro-batch)
        List<Adapter> encoder = List.of(encoderAdapters().get(0), encoderAdapters().get(2));
        double worst = trainBothWays(BERT, DataType.DOUBLE, encoder, schedule(encoder, BERT, 4), 1);
        List<Adapter> decoder = List.of(
                new Adapter(new MultiAdapterModel.AdapterSpec(lora(2, 4, 0, "c_attn"), 0, SequenceClassifier.Pooling.MEAN, 21), OptimizerConfig.sgd(0.1), 3),
                new Adapter(new MultiAdapterModel.AdapterSpec(lora(3, 3, 0, "c_proj", "c_fc"), 3, SequenceClassifier.Pooling.MEAN, 22),
                        OptimizerConfig.adam(1e-2), 2));
        List<List<TokenBatch>> schedule = schedule(decoder, GPT2, 3);
        for (List<TokenBatch> step : schedule) {
            int[] labels = step.get(0).labels();
            for (int i = 0; i < labels.length; i += 3) labels[i] = io.lorafleet.nn.SoftmaxCrossEntropy.IGNORE_INDEX;
        }
        worst = Math.max(worst, trainBothWays(GPT2, DataType.DOUBLE, decoder, schedule, 1));
        System.out.printf("float64, one sequence per micro-batch: max |together - alone| = %.2e%n", worst);
        assertTrue(worst < 1e-12, "float64 states differ by " + worst);
    }

    @Test
    void eachMicroBatchOfAStepDrawsItsOwnDropoutMasks() {
        // a batch of one sequence twice, in two micro-batches: with the same masks both would give the gradient of one copy
        // of the sequence, as a batch of it alone does; with masks of their own they differ. Without dropout they agree.
        for (double dropout : new double[] {0.0, 0.5}) {
            Adapter a = new Adapter(new MultiAdapterModel.AdapterSpec(lora(4, 8, dropout, "query", "value"), 2, SequenceClassifier.Pooling.MEAN, 12),
                    OptimizerConfig.sgd(0.5), 2);
            TokenBatch twice = schedule(List.of(a), BERT, 1).get(0).get(0);
            int t = twice.seqLen();
            System.arraycopy(twice.inputIds(), 0, twice.inputIds(), t, t);
            System.arraycopy(twice.attentionMask(), 0, twice.attentionMask(), t, t);
            twice.labels()[1] = twice.labels()[0];
            TokenBatch once = twice.sequences(0, 1);
            ModelWeights weights = ModelWeights.random(BERT, DataType.DOUBLE, 5);
            float[][] values = new float[2][];
            for (int run = 0; run < 2; run++) {
                try (BulkTrainer trainer = new BulkTrainer(MultiAdapterModel.create(BERT, weights, List.of(a.spec())), List.of(a.optimizer()),
                        run == 0 ? 1 : Long.MAX_VALUE)) {
                    trainer.step(java.util.Collections.singletonList(run == 0 ? twice : once));
                    assertEquals(run == 0 ? 2 : 1, trainer.lastStepPasses());
                    values[run] = trainer.state(0).values();
                }
            }
            double differ = maxAbs(values[0], values[1]);
            if (dropout == 0) assertTrue(differ < 1e-7, "without dropout two copies in micro-batches train as one: " + differ);
            else assertTrue(differ > 1e-4, "micro-batches drew the same dropout masks: " + differ);
        }
    }

    @Test
    void releasingTheStepMemoryBetweenStepsFreesItAndChangesNothing() {
        List<Adapter> adapters = encoderAdapters();
        ModelWeights weights = ModelWeights.random(BERT, DataType.DOUBLE, 5);
        List<List<TokenBatch>> schedule = schedule(adapters, BERT, 4);
        List<TrainState> kept = new ArrayList<>(), released = new ArrayList<>();
        long before = workspaceBytes(); // what earlier tests on this thread left
        for (boolean release : new boolean[] {false, true}) {
            MultiAdapterModel model = MultiAdapterModel.create(BERT, weights, adapters.stream().map(Adapter::spec).toList());
            try (BulkTrainer trainer = new BulkTrainer(model, adapters.stream().map(Adapter::optimizer).toList(), Long.MAX_VALUE)) {
                for (List<TokenBatch> step : schedule) {
                    trainer.step(step);
                    if (!release) continue;
                    assertTrue(workspaceBytes() > before, "a step holds workspace memory");
                    trainer.releaseMemory();
                    assertEquals(before, workspaceBytes(), "workspace bytes held after releaseMemory");
                }
                for (int k = 0; k < adapters.size(); k++) (release ? released : kept).add(trainer.state(k));
            }
        }
        for (int k = 0; k < adapters.size(); k++) {
            assertEquals(0.0, maxAbs(kept.get(k).values(), released.get(k).values()), "adapter " + k + " values");
            assertEquals(0.0, maxAbs(kept.get(k).optimizerState(), released.get(k).optimizerState()), "adapter " + k + " optimizer state");
        }
    }

    private static long workspaceBytes() {
        return org.nd4j.linalg.factory.Nd4j.getWorkspaceManager().getAllWorkspacesForCurrentThread().stream()
                .mapToLong(org.nd4j.linalg.api.memory.MemoryWorkspace::getCurrentSize).sum();
    }

    @Test
    void causalLmAndClassifierShareOneDecoder() {
        List<Adapter> adapters = List.of(
                new Adapter(new MultiAdapterModel.AdapterSpec(lora(2, 4, 0, "c_attn"), 0, SequenceClassifier.Pooling.MEAN, 21), OptimizerConfig.adam(1e-2), 2),
                new Adapter(new MultiAdapterModel.AdapterSpec(lora(3, 3, 0.1, "c_proj", "c_fc"), 3, SequenceClassifier.Pooling.MEAN, 22),
                        OptimizerConfig.adam(1e-2), 3));
        double worst = trainBothWays(GPT2, DataType.DOUBLE, adapters, 3);
        System.out.printf("decoder, float64: max |together - alone| = %.2e%n", worst);
        assertEquals(0.0, worst, "states differ by " + worst);
    }

    @Test
    void llamaFamilyAdaptersShareOneDecoder() {
        // Mistral (GQA, sliding windows), an LM on all-linear beside a classifier (score on the last token) with dropout
        TransformerConfig mistral = TransformerConfig.llama(io.lorafleet.model.Architecture.MISTRAL, 29, 16, 2, 4, 24, 16, 1e-5,
                new TransformerConfig.Llama(2, 4, TransformerConfig.Rope.plain(10000), false, false, false, false, List.of(3, 0)));
        List<Adapter> adapters = List.of(
                new Adapter(new MultiAdapterModel.AdapterSpec(lora(2, 4, 0, io.lorafleet.nn.LoraConfig.ALL_LINEAR), 0, SequenceClassifier.Pooling.HF, 21),
                        OptimizerConfig.adam(1e-2), 2),
                new Adapter(new MultiAdapterModel.AdapterSpec(lora(3, 3, 0.1, "q_proj", "v_proj"), 3, SequenceClassifier.Pooling.HF, 22),
                        OptimizerConfig.adam(1e-2), 3));
        double worst = trainBothWays(mistral, DataType.DOUBLE, adapters, 3);
        System.out.printf("mistral decoder, float64: max |together - alone| = %.2e%n", worst);
        assertEquals(0.0, worst, "states differ by " + worst);
    }

    @Test
    void oneAdapterAloneInABulkTrainerIsBitIdenticalToTheTrainer() {
        Adapter a = encoderAdapters().get(0);
        ModelWeights weights = ModelWeights.random(BERT, DataType.FLOAT, 5);
        List<List<TokenBatch>> schedule = schedule(List.of(a), BERT, 3);
        try (BulkTrainer bulk = new BulkTrainer(MultiAdapterModel.create(BERT, weights, List.of(a.spec())), List.of(a.optimizer()), Long.MAX_VALUE);
             Trainer alone = new Trainer(alone(BERT, weights, a.spec()), a.optimizer())) {
            for (List<TokenBatch> step : schedule) {
                bulk.step(step);
                alone.step(step.get(0));
            }
            assertTrue(Arrays.equals(TrainState.of(alone).values(), bulk.state(0).values()));
            assertTrue(Arrays.equals(TrainState.of(alone).optimizerState(), bulk.state(0).optimizerState()));
        }
    }
}
