package io.lorafleet.train;

import io.lorafleet.model.TaskModel;
import io.lorafleet.model.TokenBatch;
import io.lorafleet.nn.HeldOps;
import io.lorafleet.optim.Optimizer;
import io.lorafleet.optim.OptimizerConfig;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * Single-machine training: one optimizer step per batch, every activation of a step in one
 * {@link StepWorkspace}.
 */
public final class Trainer implements AutoCloseable {
    private final TaskModel model;
    private final Optimizer optimizer;
    private final StepWorkspace workspace = new StepWorkspace(this);
    private int step;

    /** One step's outcome. */
    public record StepResult(int step, double loss, double gradNorm, double learningRate, long tokens) { }

    public Trainer(TaskModel model, OptimizerConfig optimizer) {
        this.model = model;
        this.optimizer = new Optimizer(optimizer, model.params());
    }

    public StepResult step(TokenBatch batch) {
        double loss;
        double norm;
        try (MemoryWorkspace ignored = workspace.open()) {
            model.setTraining(true, step);
            model.params().zeroGrads();
            loss = model.forwardBackward(batch);
            norm = optimizer.step(step);
        }
        StepResult result = new StepResult(step, loss, norm, optimizer.learningRate(step), batch.tokens());
        step++;
        return result;
    }

    /** Mean loss of a labeled batch without training, in the same workspace discipline. */
    public double evaluate(TokenBatch batch) {
        try (MemoryWorkspace ignored = workspace.open()) {
            model.setTraining(false, step);
            return model.loss(batch);
        }
    }
    /** Summed loss and, for classification, correct predictions over one labeled batch. */
    public record Evaluation(double lossSum, long correct, long examples) implements java.io.Serializable {
        public Evaluation plus(Evaluation o) {
            return new Evaluation(lossSum + o.lossSum, correct + o.correct, examples + o.examples);
        }
    }

    /** A labeled classification batch's mean loss and the argmax class of each row, from one forward pass. */
    /** @param logits [rows, labels], copied out of the step's workspace */
    public record Classified(double meanLoss, long[] predicted, float[][] logits) { }

    public Classified classify(TokenBatch batch) {
        try (MemoryWorkspace ignored = workspace.open()) {
            model.setTraining(false, step);
            INDArray logits = model.logits(batch);
            double loss = new io.lorafleet.nn.SoftmaxCrossEntropy().forward(logits, batch.labels());
            return new Classified(loss, logits.argMax(1).toLongVector(), logits.castTo(org.nd4j.linalg.api.buffer.DataType.FLOAT).toFloatMatrix());
        }
    }

    /**
     * For a causal LM: each sequence's log-probabilities of its own tokens after the first (position t predicting
     * token t+1), computed inside the step's workspace (a vocabulary's logits per token never leave it).
     */
    public double[][] nextTokenLogProbs(TokenBatch batch) {
        try (MemoryWorkspace ignored = workspace.open()) {
            model.setTraining(false, step);
            INDArray logits = model.logits(batch).castTo(org.nd4j.linalg.api.buffer.DataType.DOUBLE); // one row per real token
            INDArray max = HeldOps.max(logits, 1);
            INDArray exp = Transforms.exp(HeldOps.columns(HeldOps.Op.SUB, logits, max, logits.ulike()), false);
            INDArray logSumExp = Transforms.log(HeldOps.sum(exp, 1), false).addi(max);
            io.lorafleet.model.PackedBatch packed = io.lorafleet.model.PackedBatch.of(batch); // the logits' rows
            double[][] out = new double[packed.sequences()][];
            for (int s = 0; s < packed.sequences(); s++) {
                out[s] = new double[packed.length(s) - 1];
                for (int row = packed.start(s); row + 1 < packed.start(s + 1); row++) {
                    out[s][row - packed.start(s)] = logits.getDouble(row, packed.inputIds()[row + 1]) - logSumExp.getDouble(row);
                }
            }
            return out;
        }
    }

    /** Scores a classification batch: mean loss × rows, and how many argmax predictions equal the label. */
    public Evaluation score(TokenBatch batch) {
        Classified c = classify(batch);
        long correct = 0;
        for (int i = 0; i < c.predicted().length; i++) if (c.predicted()[i] == batch.labels()[i]) correct++;
        return new Evaluation(c.meanLoss() * batch.batchSize(), correct, batch.batchSize());
    }

    public int stepsDone() { return step; }

    /** Continue from a checkpoint taken after {@code stepsDone} steps. */
    public void setStepsDone(int stepsDone) { this.step = stepsDone; }

    public Optimizer optimizer() { return optimizer; }

    /** The workspace that holds a step's activations; for memory accounting. */
    org.nd4j.linalg.api.memory.abstracts.Nd4jWorkspace stepWorkspace() {
        return workspace.current();
    }

    public TaskModel model() { return model; }

    /** Frees this trainer's step workspace (a thread keeps every workspace it opened until destroyed). */
    @Override
    public void close() {
        workspace.close();
    }
}
