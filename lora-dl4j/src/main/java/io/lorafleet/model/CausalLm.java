package io.lorafleet.model;

import io.lorafleet.nn.LoraConfig;
import io.lorafleet.nn.LoraLinear;
import io.lorafleet.nn.Param;
import io.lorafleet.nn.ParamRegistry;
import io.lorafleet.nn.SoftmaxCrossEntropy;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;

/**
 * A decoder with the LM head tied to its token embedding: logits = h·wteᵀ. As in Hugging Face's
 * GPT2LMHeadModel, the labels are the input positions' own tokens and the model shifts them: position t
 * predicts label t+1.
 */
public final class CausalLm implements TaskModel {
    private final Gpt2Decoder body;
    private final ParamRegistry params;
    private final List<LoraLinear> loraLayers;
    private final SoftmaxCrossEntropy loss = new SoftmaxCrossEntropy();
    private INDArray hidden; // [B·T, d]

    private CausalLm(Gpt2Decoder body, Tuning tuning) {
        this.body = body;
        this.params = tuning.registry();
        this.loraLayers = tuning.loraLayers();
    }

    /** @param lora LoRA settings, or null for full fine-tuning */
    public static CausalLm create(TransformerConfig config, ModelWeights weights, LoraConfig lora, long seed) {
        ParamRegistry registry = new ParamRegistry();
        Tuning tuning = lora == null ? Tuning.fullFineTuning(registry, seed) : Tuning.lora(lora, registry, seed);
        Gpt2Decoder body = new Gpt2Decoder(config, weights, tuning);
        tuning.checkTargetsMatched();
        registry.allocate(weights.dataType(), seed);
        return new CausalLm(body, tuning);
    }

    @Override
    public double forwardBackward(TokenBatch batch) {
        INDArray logits = logits(batch);
        double value = loss.forward(logits, shiftedTargets(batch));
        INDArray dlogits = loss.backward();
        Param wte = body.tokenEmbedding();
        if (wte.trainable()) Nd4j.gemm(dlogits, hidden, wte.grad(), true, false, 1.0, 1.0);
        INDArray dHidden = Nd4j.create(dlogits.dataType(), dlogits.rows(), hidden.columns());
        Nd4j.gemm(dlogits, wte.value(), dHidden, false, false, 1.0, 0.0);
        body.backward(dHidden);
        return value;
    }

    @Override
    public double loss(TokenBatch batch) {
        return new SoftmaxCrossEntropy().forward(logits(batch), shiftedTargets(batch));
    }

    @Override
    public INDArray logits(TokenBatch batch) {
        hidden = body.forward(batch);
        Param wte = body.tokenEmbedding();
        INDArray logits = Nd4j.create(hidden.dataType(), hidden.rows(), wte.shape()[0]);
        Nd4j.gemm(hidden, wte.value(), logits, false, true, 1.0, 0.0);
        return logits;
    }

    /** Target of position t is label t+1 of the same sequence; the last position and padding are ignored. */
    static int[] shiftedTargets(TokenBatch batch) {
        int[] labels = batch.labels();
        if (labels == null || labels.length != batch.rows()) {
            throw new IllegalArgumentException("a causal LM batch needs one label per token (" + batch.rows() + ")");
        }
        int[] targets = new int[labels.length];
        for (int b = 0; b < batch.batchSize(); b++) {
            for (int t = 0; t < batch.seqLen(); t++) {
                int i = b * batch.seqLen() + t;
                boolean last = t == batch.seqLen() - 1;
                targets[i] = last || batch.attentionMask()[i + 1] == 0 ? SoftmaxCrossEntropy.IGNORE_INDEX : labels[i + 1];
            }
        }
        return targets;
    }

    @Override public ParamRegistry params() { return params; }

    @Override public List<LoraLinear> loraLayers() { return loraLayers; }

    @Override public TransformerConfig config() { return body.config(); }
}
