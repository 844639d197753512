package io.lorafleet.model;

import io.lorafleet.nn.AdapterRows;
import io.lorafleet.nn.LoraConfig;
import io.lorafleet.nn.AdapterDelta;
import io.lorafleet.nn.ParamRegistry;
import io.lorafleet.nn.SoftmaxCrossEntropy;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Several adapters trained at once over one frozen body (mLoRA, arXiv 2312.02515). A step's batches, one
 * per adapter, are packed (real tokens only) and stacked into one fused batch; the frozen weights run once
 * over all of it, each adapter's LoRA deltas and head only over its own rows. The loss is the sum of the
 * adapters' mean losses, and since no computation mixes rows of different sequences, each adapter's
 * gradient is exactly the gradient of its own loss: what it would get if trained alone.
 */
public final class MultiAdapterModel {
    /**
     * One adapter.
     *
     * @param numLabels classes of its classifier head, or 0 for a causal LM (the decoder's tied LM head)
     * @param pooling   how its classifier pools a sequence (ignored for a causal LM)
     * @param seed      seeds its initial A and head and its dropout masks, as in a single-adapter model
     */
    public record AdapterSpec(LoraConfig lora, int numLabels, SequenceClassifier.Pooling pooling, long seed) {
        public boolean causalLm() { return numLabels == 0; }
    }

    private final Body body;
    private final AdapterRows rows;
    private final List<TaskHead> heads;
    private final Tuning tuning;
    private final SoftmaxCrossEntropy loss = new SoftmaxCrossEntropy();

    private MultiAdapterModel(Body body, AdapterRows rows, List<TaskHead> heads, Tuning tuning) {
        this.body = body;
        this.rows = rows;
        this.heads = heads;
        this.tuning = tuning;
    }

    public static MultiAdapterModel create(TransformerConfig config, ModelWeights weights, List<AdapterSpec> adapters) {
        if (adapters.isEmpty()) throw new IllegalArgumentException("no adapters");
        List<ParamRegistry> registries = new ArrayList<>();
        adapters.forEach(a -> registries.add(new ParamRegistry()));
        long[] seeds = adapters.stream().mapToLong(AdapterSpec::seed).toArray();
        AdapterRows rows = new AdapterRows(adapters.size());
        Tuning tuning = Tuning.multiLora(adapters.stream().map(AdapterSpec::lora).toList(), registries, seeds, rows);
        Body body = Body.of(config, weights, tuning);
        tuning.checkTargetsMatched();
        List<TaskHead> heads = new ArrayList<>();
        for (int k = 0; k < adapters.size(); k++) {
            AdapterSpec a = adapters.get(k);
            if (a.causalLm() && !(body instanceof CausalBody)) throw new IllegalArgumentException("adapter " + k + ": a causal LM needs a decoder");
            heads.add(a.causalLm() ? new LmHead(((CausalBody) body).lmHead())
                    : ClassifierHead.of(config, weights, tuning, k, a.numLabels(), a.pooling()));
        }
        for (int k = 0; k < adapters.size(); k++) registries.get(k).allocate(weights.dataType(), seeds[k]);
        return new MultiAdapterModel(body, rows, heads, tuning);
    }

    /**
     * One fused forward and backward: {@code batches.get(k)} is adapter k's batch, or null when it sits this
     * step out. Adds each present adapter's gradient of {@code weights[k]} × its mean loss into its registry
     * (the weight is 1 for a whole batch, and a micro-batch's share of its batch's loss terms when a batch runs
     * in parts, so that the parts' gradients add up to the whole's) and returns its mean loss (NaN for absent
     * adapters).
     */
    public double[] forwardBackward(List<TokenBatch> batches, double[] weights) {
        if (batches.size() != heads.size() || weights.length != heads.size()) {
            throw new IllegalArgumentException(batches.size() + " batches and " + weights.length + " weights for " + heads.size() + " adapters");
        }
        List<PackedBatch> parts = new ArrayList<>();
        long[] start = new long[batches.size()], end = new long[batches.size()];
        long at = 0;
        for (int k = 0; k < batches.size(); k++) {
            PackedBatch part = batches.get(k) == null ? null : PackedBatch.of(batches.get(k));
            parts.add(part);
            start[k] = at;
            at += part == null ? 0 : part.rows();
            end[k] = at;
        }
        List<PackedBatch> present = parts.stream().filter(java.util.Objects::nonNull).toList();
        if (present.isEmpty()) throw new IllegalArgumentException("every adapter sits this step out");
        rows.set(start, end);
        INDArray hidden = body.forward(PackedBatch.concat(present));
        double[] losses = new double[heads.size()];
        Arrays.fill(losses, Double.NaN);
        INDArray dHidden = null;
        for (int k = 0; k < heads.size(); k++) {
            PackedBatch own = parts.get(k);
            if (own == null) continue;
            TaskHead head = heads.get(k);
            losses[k] = loss.forward(head.logits(rows.of(hidden, k), own), head.targets(own));
            INDArray dLogits = loss.backward();
            INDArray dOwn = head.backward(weights[k] == 1.0 ? dLogits : dLogits.muli(weights[k]));
            if (rows.of(hidden, k) == hidden) { // one adapter owns every row: its gradient is the whole dHidden, no copy
                dHidden = dOwn;
            } else {
                if (dHidden == null) dHidden = Nd4j.zeros(hidden.dataType(), hidden.shape());
                rows.of(dHidden, k).assign(dOwn);
            }
        }
        body.backward(dHidden);
        return losses;
    }

    /**
     * Training mode turns adapter k's LoRA dropout on; its own step number and the micro-batch of the step (0 when
     * the batch runs whole) seed its masks.
     */
    public void setTraining(int adapter, boolean training, long step, int microBatch) {
        for (AdapterDelta d : tuning.deltas(adapter)) d.setTraining(training, step, microBatch);
    }

    /** How many terms adapter k's mean loss over {@code batch} averages: labeled sequences, or predicted tokens. */
    public int lossTerms(int adapter, TokenBatch batch) {
        int terms = 0;
        for (int target : heads.get(adapter).targets(PackedBatch.of(batch))) if (target != SoftmaxCrossEntropy.IGNORE_INDEX) terms++;
        return terms;
    }

    public ParamRegistry params(int adapter) { return tuning.registry(adapter); }

    public int adapters() { return heads.size(); }

    /** Adapter k's LoRA settings. */
    public io.lorafleet.nn.LoraConfig lora(int adapter) { return tuning.lora(adapter); }

    /** Whether adapter k predicts the next token (its head's logits span the vocabulary). */
    public boolean causalLm(int adapter) { return heads.get(adapter) instanceof LmHead; }

    public TransformerConfig config() { return body.config(); }
}
