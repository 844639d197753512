package io.lorafleet.model;

import io.lorafleet.nn.LoraConfig;
import io.lorafleet.nn.ParamRegistry;

/** A decoder (GPT-2, or the Llama family) with its LM head ({@link LmHead}). */
public final class CausalLm extends HeadedModel {
    private CausalLm(Body body, TaskHead head, Tuning tuning) {
        super(body, head, tuning);
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
