package io.lorafleet.spark;

import io.lorafleet.datasets.Manifest;
import io.lorafleet.datasets.ShardRow;
import io.lorafleet.io.PeftAdapter;
import io.lorafleet.io.PretrainedModel;
import io.lorafleet.model.CausalLm;
import io.lorafleet.model.MultiAdapterModel;
import io.lorafleet.model.SequenceClassifier;
import io.lorafleet.model.TaskModel;
import io.lorafleet.model.TokenBatch;
import io.lorafleet.optim.OptimizerConfig;
import io.lorafleet.train.BulkTrainer;
import io.lorafleet.train.DataOrder;
import io.lorafleet.train.TrainState;
import io.lorafleet.train.Trainer;

import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What one data-parallel worker (one Spark task) does in a round: take the broadcast state of every adapter
 * of its wave that trains this round, run K local steps over the frozen base (cached in the executor JVM)
 * with all of them in each fused batch, and return each adapter's new state. Worker w of W takes, for each
 * adapter in its round r, global batches r·W·K + w·K + k, k &lt; K, of that adapter's seeded {@link DataOrder}.
 */
final class TrainWorker {
    private TrainWorker() { }

    /** What every task of one adapter's training needs; small (no weights). {@code config} is the adapter's own. */
    record Spec(TrainConfig config, String modelHash, Manifest manifest, String adapter, int numLabels, int rounds, HadoopConf hadoop)
            implements Serializable {
        int totalSteps() {
            return rounds * config.localSteps();
        }

        /** Language-model rows (causal-LM blocks, instruction rows) for the decoder's LM head, rather than labeled sequences. */
        boolean causalLm() {
            return manifest.languageModel();
        }

        MultiAdapterModel.AdapterSpec modelSpec() {
            return new MultiAdapterModel.AdapterSpec(config.lora(), causalLm() ? 0 : numLabels, config.head().pooling(), config.seed());
        }

        OptimizerConfig optimizer(double learningRateScale) {
            return config.optimizer().forRun(totalSteps(), learningRateScale);
        }
    }

    /**
     * Adapters trained together. They share the model, shards, batch size, partitions and local steps
     * (the round's shape); everything else is each adapter's own.
     */
    record Wave(int index, List<Spec> adapters) implements Serializable {
        TrainConfig shared() {
            return adapters.get(0).config();
        }
    }

    /** One adapter's part of a round's broadcast: its state (null before its first round), learning-rate scale and round. */
    record AdapterInput(TrainState state, double learningRateScale, int round) implements Serializable { }

    /**
     * The round's broadcast: the adapters that train this round, and the learning-rate scale of every adapter
     * of the wave (which decides the optimizers a worker builds, so it changes only after a NaN).
     */
    record RoundInput(Map<String, AdapterInput> training, Map<String, Double> learningRateScales) implements Serializable { }

    /**
     * One adapter's outcome in one worker's round: its new state, examples, summed loss and tokens; or, when
     * a loss, a gradient norm or the state went non-finite, the global batch where it happened and what went; or an error.
     */
    record AdapterResult(TrainState state, long examples, double lossSum, long tokens, long badBatch, String badWhat, String error)
            implements Serializable {
        boolean nonFinite() {
            return badBatch >= 0;
        }
    }

    /** One task's round: each adapter's outcome, and the seconds its training steps took (the compute, without Spark's part). */
    record RoundResult(int partition, Map<String, AdapterResult> adapters, double stepSeconds) implements Serializable { }

    static RoundResult run(Wave wave, RoundInput input, int partition) throws IOException {
        TaskGpu.bindCurrentTask();
        TrainConfig c = wave.shared();
        Reusable reusable = bulkTrainer(wave, input.learningRateScales());
        BulkTrainer trainer = reusable.trainer();
        List<Spec> specs = wave.adapters();
        Map<String, AdapterResult> out = new LinkedHashMap<>();
        List<List<ShardRow>> rows = new ArrayList<>();
        List<DataOrder> orders = new ArrayList<>();
        boolean[] training = new boolean[specs.size()];
        long[] examples = new long[specs.size()], tokens = new long[specs.size()];
        double[] lossSums = new double[specs.size()];
        long stepNanos = 0;
        for (int a = 0; a < specs.size(); a++) {
            Spec spec = specs.get(a);
            AdapterInput in = input.training().get(spec.adapter());
            List<ShardRow> own = null;
            if (in != null) {
                try {
                    own = rows(spec, c.trainSplit());
                    trainer.restore(a, in.state() != null ? in.state() : reusable.initial().get(a));
                    trainer.setStepsDone(a, in.round() * c.localSteps());
                    training[a] = true;
                } catch (IOException | RuntimeException e) {
                    out.put(spec.adapter(), new AdapterResult(null, 0, 0, 0, -1, null, e.getMessage()));
                }
            }
            rows.add(own);
            orders.add(own == null ? null : new DataOrder(own.size(), c.batchSize(), spec.config().seed()));
        }
        for (int k = 0; k < c.localSteps(); k++) {
            List<TokenBatch> batches = new ArrayList<>();
            List<List<ShardRow>> selected = new ArrayList<>();
            long[] global = new long[specs.size()];
            for (int a = 0; a < specs.size(); a++) {
                List<ShardRow> batch = null;
                if (training[a]) {
                    global[a] = ((long) input.training().get(specs.get(a).adapter()).round() * c.partitions() + partition) * c.localSteps() + k;
                    batch = select(rows.get(a), orders.get(a).batch(global[a]));
                }
                selected.add(batch);
                batches.add(batch == null ? null : Batches.pad(batch, specs.get(a).causalLm()));
            }
            if (batches.stream().allMatch(java.util.Objects::isNull)) break;
            long stepStarted = System.nanoTime();
            Trainer.StepResult[] steps = trainer.step(batches);
            stepNanos += System.nanoTime() - stepStarted;
            for (int a = 0; a < specs.size(); a++) {
                if (steps[a] == null) continue;
                if (!Double.isFinite(steps[a].loss()) || !Double.isFinite(steps[a].gradNorm())) {
                    String what = Double.isFinite(steps[a].loss()) ? "gradient norm " + steps[a].gradNorm() + " (loss " + steps[a].loss() + ")"
                            : "loss " + steps[a].loss() + " (gradient norm " + steps[a].gradNorm() + ")";
                    out.put(specs.get(a).adapter(), new AdapterResult(null, examples[a], lossSums[a], tokens[a], global[a], what, null));
                    training[a] = false;
                    continue;
                }
                examples[a] += selected.get(a).size();
                lossSums[a] += steps[a].loss() * selected.get(a).size();
                tokens[a] += steps[a].tokens();
            }
        }
        for (int a = 0; a < specs.size(); a++) {
            if (!training[a]) continue;
            TrainState state = trainer.state(a);
            String id = specs.get(a).adapter();
            if (!state.finite()) {
                out.put(id, new AdapterResult(null, examples[a], lossSums[a], tokens[a], Long.MAX_VALUE, "a non-finite value in the state after its steps",
                        null));
                continue;
            }
            if (c.optimizerState() == TrainConfig.OptimizerStateMode.RESET) state = new TrainState(state.values(), new float[0], state.steps());
            out.put(id, new AdapterResult(state, examples[a], lossSums[a], tokens[a], -1, null, null));
        }
        return new RoundResult(partition, out, stepNanos / 1e9);
    }

    /**
     * Loss and accuracy of each adapter's state on this worker's share (every W-th row) of its evaluation
     * split; for a causal LM, the summed token loss over the predicted tokens (accuracy stays 0).
     */
    static Map<String, Trainer.Evaluation> evaluate(Wave wave, Map<String, TrainState> states, int partition) throws IOException {
        Map<String, Trainer.Evaluation> out = new LinkedHashMap<>();
        for (Spec spec : wave.adapters()) {
            TrainState state = states.get(spec.adapter());
            boolean hasRows = spec.manifest().adapters().get(spec.adapter()).rows().getOrDefault(spec.config().evalSplit(), 0L) > 0;
            if (state != null && hasRows) out.put(spec.adapter(), evaluate(spec, state, partition));
        }
        return out;
    }

    static Trainer.Evaluation evaluate(Spec spec, TrainState state, int partition) throws IOException {
        TrainConfig c = spec.config();
        List<ShardRow> rows = rows(spec, c.evalSplit());
        Reusable kept = TRAINERS.get(); // its step's activations are not needed while this thread evaluates
        if (kept != null) kept.trainer().releaseMemory();
        List<ShardRow> share = new ArrayList<>();
        for (int i = partition; i < rows.size(); i += c.partitions()) share.add(rows.get(i));
        try (Trainer trainer = trainer(spec, state)) {
            Trainer.Evaluation total = new Trainer.Evaluation(0, 0, 0);
            // Batches within half the step's memory budget, the largest first. A forward pass keeps every layer's activations
            // (~90% of a step's), and with the allocator's leftovers an evaluation at the full budget peaked at ~1.4× a training
            // task (MiniLM, 512 tokens); the workspace sizes itself on its first batch, and growing it later holds old and new at once.
            BulkTrainer.StepShape shape = BulkTrainer.StepShape.of(trainer.model().config(), c.lora(), spec.causalLm());
            List<List<ShardRow>> batches = new ArrayList<>(Batches.fitting(share, c.batchSize(), c.waves().memoryBytes() / 2, shape));
            batches.sort(java.util.Comparator.comparingLong((List<ShardRow> b) -> -Batches.stepBytes(b, shape)));
            for (List<ShardRow> batch : batches) total = total.plus(score(trainer, batch, spec.causalLm()));
            return total;
        }
    }

    static Trainer.Evaluation score(Trainer trainer, List<ShardRow> rows, boolean causalLm) {
        if (!causalLm) return trainer.score(Batches.pad(rows, false));
        long predicted = 0; // the batch's mean is over its predicted tokens (an instruction row's response only): weigh it by their count
        for (ShardRow r : rows) predicted += r.predictedTokens();
        return new Trainer.Evaluation(trainer.evaluate(Batches.pad(rows, true)) * predicted, 0, predicted);
    }

    /** The adapter's PEFT files (weights and adapter_config.json) for a state, built where the model is cached. */
    static Map<String, byte[]> adapterFiles(Spec spec, TrainState state) throws IOException {
        try (Trainer trainer = trainer(spec, state)) {
            PeftAdapter adapter = PeftAdapter.of(trainer.model(), spec.causalLm() ? PeftAdapter.TaskType.CAUSAL_LM : PeftAdapter.TaskType.SEQ_CLS,
                    spec.config().lora(), PeftAdapter.loadableBase(spec.config().model()));
            Map<String, byte[]> files = new LinkedHashMap<>();
            files.put(PeftAdapter.WEIGHTS, adapter.weights(trainer.model().config()));
            files.put(PeftAdapter.CONFIG, adapter.configJson(trainer.model().config()));
            return files;
        }
    }

    /** A single-adapter trainer holding {@code state} (without optimizer moments), for evaluation and export. */
    private static Trainer trainer(Spec spec, TrainState state) throws IOException {
        TaskGpu.bindCurrentTask();
        TrainConfig c = spec.config();
        PretrainedModel base = ExecutorCache.model(c.model(), spec.modelHash(), spec.hadoop().get());
        TaskModel model = spec.causalLm() ? CausalLm.create(base.config(), base.weights(), c.lora(), c.seed())
                : SequenceClassifier.create(base.config(), base.weights(), c.lora(), spec.numLabels(), c.head().pooling(), c.seed());
        Trainer trainer = new Trainer(model, spec.optimizer(1.0));
        new TrainState(state.values(), new float[0], state.steps()).applyTo(trainer);
        return trainer;
    }

    /** A wave's trainer kept by its task thread across rounds, with each adapter's initial state (for its first round and re-runs). */
    private record Reusable(String key, BulkTrainer trainer, List<TrainState> initial) { }

    private static final ThreadLocal<Reusable> TRAINERS = new ThreadLocal<>();

    /**
     * This thread's trainer for the wave: building one costs a model assembly and a first step that sizes
     * its workspace (~0.4 s measured for one adapter), so a thread keeps the last one and replaces it only
     * for another wave or after a learning rate changed.
     */
    private static Reusable bulkTrainer(Wave wave, Map<String, Double> learningRateScales) throws IOException {
        String key = wave.adapters().stream().map(s -> s.adapter() + "@" + s.config().hashCode() + "/" + s.rounds()).toList() + "|"
                + wave.adapters().get(0).modelHash() + "|" + learningRateScales;
        Reusable kept = TRAINERS.get();
        if (kept != null && kept.key().equals(key)) return kept;
        if (kept != null) kept.trainer().close();
        TrainConfig c = wave.shared();
        PretrainedModel base = ExecutorCache.model(c.model(), wave.adapters().get(0).modelHash(), wave.adapters().get(0).hadoop().get());
        MultiAdapterModel model = MultiAdapterModel.create(base.config(), base.weights(), wave.adapters().stream().map(Spec::modelSpec).toList());
        BulkTrainer trainer = new BulkTrainer(model, wave.adapters().stream()
                .map(s -> s.optimizer(learningRateScales.getOrDefault(s.adapter(), 1.0))).toList(), c.waves().memoryBytes());
        List<TrainState> initial = new ArrayList<>();
        for (int a = 0; a < wave.adapters().size(); a++) initial.add(trainer.state(a));
        Reusable made = new Reusable(key, trainer, initial);
        TRAINERS.set(made);
        return made;
    }

    private static List<ShardRow> rows(Spec spec, String split) throws IOException {
        List<ShardRow> rows = ExecutorCache.rows(spec.config().shards(), spec.manifest(), spec.adapter(), split, spec.hadoop().get());
        if (rows.isEmpty()) throw new IOException("adapter " + spec.adapter() + ": no rows in split '" + split + "' of " + spec.config().shards());
        return rows;
    }

    private static List<ShardRow> select(List<ShardRow> rows, int[] indices) {
        List<ShardRow> batch = new ArrayList<>(indices.length);
        for (int i : indices) batch.add(rows.get(i));
        return batch;
    }
}
