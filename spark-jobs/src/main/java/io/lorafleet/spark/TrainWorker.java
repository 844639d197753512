package io.lorafleet.spark;

import io.lorafleet.datasets.Batches;
import io.lorafleet.datasets.Manifest;
import io.lorafleet.datasets.ShardRow;
import io.lorafleet.io.PretrainedModel;
import io.lorafleet.model.SequenceClassifier;
import io.lorafleet.model.TaskModel;
import io.lorafleet.train.DataOrder;
import io.lorafleet.train.TrainState;
import io.lorafleet.train.Trainer;
import org.apache.hadoop.conf.Configuration;

import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;

/**
 * What one data-parallel worker (one Spark task) does in a round: take the broadcast trainable state, run
 * K local steps on its batches over the frozen base (cached in the executor JVM), and return its state.
 * Worker w of W in round r takes global batches r·W·K + w·K + k, k &lt; K, of the seeded {@link DataOrder}.
 */
final class TrainWorker {
    private TrainWorker() { }

    /** What every task of one adapter's training needs; small (no weights). */
    record Spec(TrainConfig config, String modelHash, Manifest manifest, String adapter, int numLabels, int rounds, HadoopConf hadoop)
            implements Serializable {
        int totalSteps() {
            return rounds * config.localSteps();
        }

        /** Causal-LM blocks (a GPT-2 LM with its tied head) rather than labeled sequences. */
        boolean causalLm() {
            return manifest.objective().equals("causal_lm");
        }
    }

    /** The round's broadcast: the averaged state (null before the first round) and the learning-rate scale. */
    record RoundInput(TrainState state, double learningRateScale, int round) implements Serializable { }

    /**
     * One worker's round: its new state, examples, summed loss and tokens; or, when a loss or the state went
     * non-finite, the global batch where it happened.
     */
    record RoundResult(int partition, TrainState state, long examples, double lossSum, long tokens, long badBatch, double badLoss)
            implements Serializable {
        boolean failed() {
            return badBatch >= 0;
        }
    }

    static RoundResult run(Spec spec, RoundInput input, int partition) throws IOException {
        TrainConfig c = spec.config();
        List<ShardRow> rows = rows(spec, c.trainSplit());
        Reusable reusable = trainer(spec, input.learningRateScale());
        Trainer trainer = reusable.trainer();
        (input.state() != null ? input.state() : reusable.initial()).applyTo(trainer);
        trainer.setStepsDone(input.round() * c.localSteps());
        DataOrder order = new DataOrder(rows.size(), c.batchSize(), c.seed());
        long examples = 0, tokens = 0;
        double lossSum = 0;
        long lastBatch = -1;
        for (int k = 0; k < c.localSteps(); k++) {
            lastBatch = ((long) input.round() * c.partitions() + partition) * c.localSteps() + k;
            List<ShardRow> batch = select(rows, order.batch(lastBatch));
            Trainer.StepResult step = trainer.step(Batches.pad(batch, spec.causalLm()));
            if (!Double.isFinite(step.loss()) || !Double.isFinite(step.gradNorm())) {
                return new RoundResult(partition, null, examples, lossSum, tokens, lastBatch, step.loss());
            }
            examples += batch.size();
            lossSum += step.loss() * batch.size();
            tokens += step.tokens();
        }
        TrainState state = TrainState.of(trainer);
        if (!state.finite()) return new RoundResult(partition, null, examples, lossSum, tokens, lastBatch, Double.NaN);
        if (c.optimizerState() == TrainConfig.OptimizerStateMode.RESET) state = new TrainState(state.values(), new float[0], state.steps());
        return new RoundResult(partition, state, examples, lossSum, tokens, -1, 0);
    }

    /**
     * Loss and accuracy of the state on this worker's share (every W-th row) of the evaluation split; for a
     * causal LM, the summed token loss over the predicted tokens (accuracy stays 0).
     */
    static Trainer.Evaluation evaluate(Spec spec, TrainState state, int partition) throws IOException {
        TrainConfig c = spec.config();
        List<ShardRow> rows = rows(spec, c.evalSplit());
        Trainer trainer = trainer(spec, 1.0).trainer();
        new TrainState(state.values(), new float[0], state.steps()).applyTo(trainer);
        Trainer.Evaluation total = new Trainer.Evaluation(0, 0, 0);
        List<ShardRow> batch = new ArrayList<>();
        for (int i = partition; i < rows.size(); i += c.partitions()) {
            batch.add(rows.get(i));
            if (batch.size() == c.batchSize()) {
                total = total.plus(score(trainer, batch, spec.causalLm()));
                batch.clear();
            }
        }
        if (!batch.isEmpty()) total = total.plus(score(trainer, batch, spec.causalLm()));
        return total;
    }

    static Trainer.Evaluation score(Trainer trainer, List<ShardRow> rows, boolean causalLm) {
        if (!causalLm) return trainer.score(Batches.pad(rows, false));
        long predicted = 0;
        for (ShardRow r : rows) predicted += r.length() - 1; // position t predicts token t+1
        return new Trainer.Evaluation(trainer.evaluate(Batches.pad(rows, true)) * predicted, 0, predicted);
    }

    /** The adapter's PEFT files (weights and adapter_config.json) for a state, built where the model is cached. */
    static java.util.Map<String, byte[]> adapterFiles(Spec spec, TrainState state) throws IOException {
        Trainer trainer = trainer(spec, 1.0).trainer();
        new TrainState(state.values(), new float[0], state.steps()).applyTo(trainer);
        io.lorafleet.io.PeftAdapter adapter = io.lorafleet.io.PeftAdapter.of(trainer.model(),
                spec.causalLm() ? io.lorafleet.io.PeftAdapter.TaskType.CAUSAL_LM : io.lorafleet.io.PeftAdapter.TaskType.SEQ_CLS,
                spec.config().lora().toConfig(), spec.config().model());
        java.util.Map<String, byte[]> files = new java.util.LinkedHashMap<>();
        files.put(io.lorafleet.io.PeftAdapter.WEIGHTS, adapter.weights(trainer.model().config()));
        files.put(io.lorafleet.io.PeftAdapter.CONFIG, adapter.configJson(trainer.model().config()));
        return files;
    }

    /** A trainer kept by its task thread across rounds, with the state it started from (for round 0 and re-runs). */
    private record Reusable(String key, Trainer trainer, TrainState initial) { }

    private static final ThreadLocal<Reusable> TRAINERS = new ThreadLocal<>();

    /**
     * This thread's trainer for the spec: building one costs a model assembly and a first step that sizes
     * its workspace (~0.4 s measured), so a thread keeps the last one and replaces it only for another spec.
     */
    private static Reusable trainer(Spec spec, double learningRateScale) throws IOException {
        String key = spec.adapter() + "|" + spec.modelHash() + "|" + spec.config().hashCode() + "|" + spec.rounds() + "|" + learningRateScale;
        Reusable kept = TRAINERS.get();
        if (kept != null && kept.key().equals(key)) return kept;
        if (kept != null) kept.trainer().close();
        TrainConfig c = spec.config();
        PretrainedModel base = ExecutorCache.model(c.model(), spec.modelHash(), spec.hadoop().get());
        TaskModel model = spec.causalLm() ? io.lorafleet.model.CausalLm.create(base.config(), base.weights(), c.lora().toConfig(), c.seed())
                : SequenceClassifier.create(base.config(), base.weights(), c.lora().toConfig(), spec.numLabels(), c.head().pooling(), c.seed());
        Trainer trainer = new Trainer(model, c.optimizer().toConfig(spec.totalSteps(), learningRateScale));
        Reusable made = new Reusable(key, trainer, TrainState.of(trainer));
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
