package io.lorafleet.train;

import io.lorafleet.model.MultiAdapterModel;
import io.lorafleet.model.TokenBatch;
import io.lorafleet.optim.Optimizer;
import io.lorafleet.optim.OptimizerConfig;
import org.nd4j.linalg.api.memory.MemoryWorkspace;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * Trains several adapters at once over one frozen body: each step is one fused forward and backward of
 * whichever adapters have a batch, then each of them takes its own optimizer step (its own learning
 * rate, schedule, clipping and step count). Per adapter, this is the same sequence of operations a
 * {@link Trainer} runs for it alone.
 *
 * <p>A step keeps to a memory budget: when the adapters' batches together would take more than {@code
 * stepBudgetBytes} of activations ({@link #stepBytes}), the fused forward and backward runs in passes over
 * groups of adapters in turn, each pass's activations freed before the next, and the optimizer steps follow
 * once every pass's gradients are in. Adapters do not share rows, so each still gets the gradient it would
 * get alone. An adapter whose batch alone is over the budget runs it in micro-batches of its sequences and
 * adds up their gradients, each weighted by its share of the batch's loss terms (gradient accumulation): the
 * same gradient up to rounding, with dropout masks drawn per micro-batch.
 */
public final class BulkTrainer implements AutoCloseable {
    private final MultiAdapterModel model;
    private final List<Optimizer> optimizers = new ArrayList<>();
    private final int[] steps;
    private final long stepBudgetBytes;
    private final List<StepShape> shapes = new ArrayList<>(); // per adapter: what its steps' memory depends on
    private final StepWorkspace workspace = new StepWorkspace(this);
    private int lastPasses;

    public BulkTrainer(MultiAdapterModel model, List<OptimizerConfig> optimizers, long stepBudgetBytes) {
        if (optimizers.size() != model.adapters()) throw new IllegalArgumentException(optimizers.size() + " optimizers for " + model.adapters() + " adapters");
        if (stepBudgetBytes <= 0) throw new IllegalArgumentException("step memory budget must be positive, is " + stepBudgetBytes);
        this.model = model;
        for (int k = 0; k < optimizers.size(); k++) this.optimizers.add(new Optimizer(optimizers.get(k), model.params(k)));
        this.steps = new int[model.adapters()];
        this.stepBudgetBytes = stepBudgetBytes;
        for (int k = 0; k < model.adapters(); k++) shapes.add(StepShape.of(model.config(), model.lora(k), model.causalLm(k)));
    }

    /** {@code batches.get(k)}: adapter k's batch, or null when it sits this step out → per adapter its step's outcome, or null. */
    public Trainer.StepResult[] step(List<TokenBatch> batches) {
        Trainer.StepResult[] results = new Trainer.StepResult[model.adapters()];
        double[] losses = new double[model.adapters()];
        for (int k = 0; k < results.length; k++) if (batches.get(k) != null) model.params(k).zeroGrads();
        List<Pass> passes = passes(batches);
        for (Pass pass : passes) {
            for (int k = 0; k < results.length; k++) if (pass.batches.get(k) != null) model.setTraining(k, true, steps[k], pass.microBatch[k]);
            try (MemoryWorkspace ignored = workspace.open()) {
                double[] passLosses = model.forwardBackward(pass.batches, pass.weights);
                for (int k = 0; k < results.length; k++) if (pass.batches.get(k) != null) losses[k] += pass.weights[k] * passLosses[k];
            }
        }
        lastPasses = passes.size();
        try (MemoryWorkspace ignored = workspace.open()) {
            for (int k = 0; k < results.length; k++) {
                if (batches.get(k) == null) continue;
                double norm = optimizers.get(k).step(steps[k]);
                results[k] = new Trainer.StepResult(steps[k], losses[k], norm, optimizers.get(k).learningRate(steps[k]), batches.get(k).tokens());
            }
        }
        for (int k = 0; k < results.length; k++) if (results[k] != null) steps[k]++;
        return results;
    }

    /**
     * One forward and backward of a step: per adapter its batch or micro-batch (null when not in this pass), the
     * weight of its mean loss, and which micro-batch of its step it is (its first sequence; 0 for a whole batch),
     * which seeds its dropout masks.
     */
    private static final class Pass {
        final List<TokenBatch> batches;
        final double[] weights;
        final int[] microBatch;
        long bytes;

        Pass(int adapters) {
            batches = new ArrayList<>(Collections.nCopies(adapters, null));
            weights = new double[adapters];
            microBatch = new int[adapters];
        }

        void add(int adapter, TokenBatch batch, double weight, int microBatch, long bytes) {
            batches.set(adapter, batch);
            weights[adapter] = weight;
            this.microBatch[adapter] = microBatch;
            this.bytes += bytes;
        }
    }

    /**
     * The step's batches in passes that fit the budget: consecutive adapters grouped while their activations fit
     * together; an adapter whose batch alone is over the budget in micro-batches of its sequences, one pass each.
     * The largest pass runs first: the step's workspace sizes itself on its first pass, and growing it later would
     * hold the old and the new at once.
     */
    private List<Pass> passes(List<TokenBatch> batches) {
        List<Pass> passes = new ArrayList<>();
        Pass group = null;
        for (int k = 0; k < batches.size(); k++) {
            TokenBatch batch = batches.get(k);
            if (batch == null) continue;
            long bytes = stepBytes(k, batch.tokens(), batch.squaredLengths());
            if (bytes > stepBudgetBytes && batch.batchSize() > 1) {
                passes.addAll(microBatches(k, batch));
                continue;
            }
            if (group == null || group.bytes + bytes > stepBudgetBytes) {
                group = new Pass(batches.size());
                passes.add(group);
            }
            group.add(k, batch, 1.0, 0, bytes);
        }
        passes.sort(java.util.Comparator.comparingLong((Pass pass) -> -pass.bytes));
        return passes;
    }

    /**
     * Adapter k's batch as runs of consecutive sequences that each fit the budget (a sequence over it alone is a
     * run of its own), each weighted by its share of the batch's loss terms: their gradients add up to the
     * batch's (gradient accumulation). Runs without loss terms are left out: they add nothing.
     */
    private List<Pass> microBatches(int k, TokenBatch batch) {
        List<Pass> passes = new ArrayList<>();
        double terms = model.lossTerms(k, batch);
        int[] lengths = java.util.stream.IntStream.range(0, batch.batchSize()).map(batch::length).toArray();
        for (int[] run : runs(lengths, lengths.length, stepBudgetBytes, shapes.get(k))) {
            TokenBatch part = batch.sequences(run[0], run[1]);
            int partTerms = model.lossTerms(k, part);
            if (partTerms > 0) { // a part without loss terms (e.g. every label ignored) adds nothing to the gradient
                Pass pass = new Pass(model.adapters());
                pass.add(k, part, partTerms / terms, run[0], stepBytes(k, part.tokens(), part.squaredLengths()));
                passes.add(pass);
            }
        }
        return passes;
    }

    /**
     * Sequences of the given real lengths in consecutive runs [from, to), in order: each run as long as it stays within
     * {@code maxSequences} and {@code maxBytes} of step activations ({@link #stepBytes}); a sequence over the bytes
     * alone is a run of its own.
     */
    public static List<int[]> runs(int[] lengths, int maxSequences, long maxBytes, StepShape shape) {
        List<int[]> runs = new ArrayList<>();
        for (int from = 0; from < lengths.length; ) {
            int to = from;
            long tokens = 0, squared = 0;
            do {
                tokens += lengths[to];
                squared += (long) lengths[to] * lengths[to];
                to++;
            } while (to < lengths.length && to - from < maxSequences
                    && stepBytes(shape, tokens + lengths[to], squared + (long) lengths[to] * lengths[to]) <= maxBytes);
            runs.add(new int[] {from, to});
            from = to;
        }
        return runs;
    }

    private long stepBytes(int adapter, long tokens, long squaredLengths) {
        return stepBytes(shapes.get(adapter), tokens, squaredLengths);
    }

    /**
     * What a step's activation memory depends on besides its tokens: the model, whether it has a language-model head, and
     * the floats per token that the adapter's layers keep beyond plain LoRA without dropout: with dropout, each adapted
     * projection's mask and dropped input (2 × its input width); under DoRA, its rescaled outputs (2.5 × its output
     * width, measured).
     */
    public record StepShape(io.lorafleet.model.TransformerConfig model, boolean lmHead, long adapterFloats) {
        /** For an adapter with these LoRA settings (null: full fine-tuning). */
        public static StepShape of(io.lorafleet.model.TransformerConfig c, io.lorafleet.nn.LoraConfig lora, boolean lmHead) {
            long floats = 0;
            if (lora != null) {
                Map<String, long[]> shapes = io.lorafleet.model.ModelWeights.expectedShapes(c);
                boolean inByOut = c.architecture().inByOutWeights();
                for (String module : io.lorafleet.model.ModelWeights.projectionModules(c)) {
                    if (!lora.targets(module)) continue;
                    long[] w = shapes.get(module + ".weight");
                    long in = inByOut ? w[0] : w[1], out = inByOut ? w[1] : w[0];
                    floats += (lora.dropout() > 0 ? 2 * in : 0) + (lora.useDora() ? 5 * out / 2 : 0);
                }
            }
            return new StepShape(c, lmHead, floats);
        }
    }

    /**
     * Frees the step's workspaces until the next step, which sizes them again: for work in between that needs
     * the memory (an evaluation builds its own model and workspace).
     */
    public void releaseMemory() {
        workspace.close();
    }

    /** How many forward and backward passes the last step ran in (1 = fused whole). */
    public int lastStepPasses() { return lastPasses; }

    /**
     * Activation memory of one forward and backward (float32) over sequences with {@code tokens} real tokens
     * whose squared lengths sum to {@code squaredLengths}: per layer and token about 16 hidden-width vectors
     * and 3 FFN-width ones (LoRA without dropout; {@link StepShape} adds what dropout and DoRA keep), per head one row of attention probabilities per token (its sequence's length),
     * and with a language-model head 3 vocabulary-width rows per token (logits, probabilities, their
     * gradient); +10% for the workspaces' over-allocation. Measured against the step's and the layer-backward
     * workspaces on the MiniLM shape at batch 16: 287 / 615 / 1,388 / 3,410 MB at 64 / 128 / 256 / 512 tokens,
     * this gives 297 / 633 / 1,426 / 3,485; a 2-layer GPT-2-shaped LM (vocabulary 50,257) at 4 × 128 tokens 365 MB, this 357.
     * A Llama-family layer holds more: two RMSNorms, rotated queries and keys, and SwiGLU's gate, its sigmoid, the up
     * projection and their product: 23 hidden-width and 5 FFN-width vectors. Measured on 4 layers of the SmolLM2-135M
     * shape (hidden 576, 9 heads, 3 KV heads, LoRA on q_proj and v_proj) at batch 16 × 128 tokens with FFN width 768 /
     * 1,536 / 3,072: 640 / 771 / 1,034 MB (a classifier), this 657 / 796 / 1,073; with its 49,152-word LM head at 64 / 128 /
     * 256 tokens 1,039 / 2,100 / 4,282 MB, this 1,052 / 2,125 / 4,332. With dropout 0.1 and DoRA, MiniLM at 16 × 128 (r=8):
     * LoRA on query and value 700 MB, this 712; on all six projections 1,003, this 990; DoRA on query and value without
     * dropout 714, this 732; DoRA on all six with dropout 1,451, this 1,435.
     */
    public static long stepBytes(StepShape shape, long tokens, long squaredLengths) {
        io.lorafleet.model.TransformerConfig c = shape.model();
        boolean llama = c.architecture().llamaFamily();
        long perToken = llama ? 23L * c.hiddenSize() + 5L * c.intermediateSize() : 16L * c.hiddenSize() + 3L * c.intermediateSize();
        long perLayer = tokens * perToken + (long) c.numHeads() * squaredLengths;
        long floats = c.numLayers() * perLayer + (shape.lmHead() ? 3L * c.vocabSize() * tokens : 0) + shape.adapterFloats() * tokens;
        return 4L * floats * 11 / 10;
    }

    /** Adapter k's trainable values, optimizer state and steps taken. */
    public TrainState state(int adapter) {
        return TrainState.of(model.params(adapter), optimizers.get(adapter), steps[adapter]);
    }

    /** Continues adapter k from {@code state}. */
    public void restore(int adapter, TrainState state) {
        state.applyTo(model.params(adapter), optimizers.get(adapter));
        steps[adapter] = state.steps();
    }

    public void setStepsDone(int adapter, int stepsDone) { steps[adapter] = stepsDone; }

    public MultiAdapterModel model() { return model; }

    @Override
    public void close() {
        workspace.close();
    }
}
