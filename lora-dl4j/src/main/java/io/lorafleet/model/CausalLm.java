package io.lorafleet.model;

import io.lorafleet.nn.LoraConfig;
import io.lorafleet.nn.KeyValueCache;
import io.lorafleet.nn.ParamRegistry;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;

/** A decoder (GPT-2, or the Llama family) with its LM head ({@link LmHead}). */
public final class CausalLm extends HeadedModel {
    /** Empty key/value caches of every layer, for decoding {@code sequences} sequences ({@link #decode}). */
    public List<KeyValueCache> newCaches(int sequences) {
        return ((CausalBody) body()).newCaches(sequences);
    }

    /**
     * One decoding step ({@link CausalBody#decode}): the next token of each listed sequence, at its position → the logits
     * of the token after it, [B, vocab].
     */
    public INDArray decode(int[] tokens, int[] positions, int[] sequences, List<KeyValueCache> caches) {
        return head().logits(((CausalBody) body()).decode(tokens, positions, sequences, caches), null); // the LM head reads no batch
    }

    /** Each sequence's logits for the token after its last real one, [B, vocab]: the LM head on those rows only. */
    public INDArray nextTokenLogits(TokenBatch batch) {
        PackedBatch packed = PackedBatch.of(batch);
        INDArray hidden = body().forward(packed);
        int[] last = new int[packed.sequences()];
        for (int s = 0; s < last.length; s++) last[s] = packed.start(s + 1) - 1;
        return head().logits(Nd4j.pullRows(hidden, 1, last), packed);
    }

    private CausalLm(Body body, TaskHead head, Tuning tuning) {
        super(body, head, tuning);
    }

    /** The pretrained model as it is, every tensor frozen (for generation and scoring). */
    public static CausalLm frozen(TransformerConfig config, ModelWeights weights) {
        return create(config, weights, LoraConfig.of(1, 1, java.util.List.of()), 0);
    }

    /** @param lora LoRA settings, or null for full fine-tuning */
    public static CausalLm create(TransformerConfig config, ModelWeights weights, LoraConfig lora, long seed) {
        ParamRegistry registry = new ParamRegistry();
        Tuning tuning = lora == null ? Tuning.fullFineTuning(registry, seed) : Tuning.lora(lora, registry, seed);
        if (!config.causal()) throw new IllegalArgumentException("a causal LM needs a decoder, not model_type " + config.architecture().modelType());
        CausalBody body = (CausalBody) Body.of(config, weights, tuning);
        tuning.checkTargetsMatched();
        registry.allocate(weights.dataType(), seed);
        return new CausalLm(body, new LmHead(body.lmHead()), tuning);
    }
}
