package io.lorafleet.model;

import io.lorafleet.nn.LoraConfig;
import io.lorafleet.nn.ParamRegistry;

/** A GPT-2 decoder with the LM head tied to its token embedding ({@link LmHead}). */
public final class CausalLm extends HeadedModel {
    private CausalLm(Body body, TaskHead head, Tuning tuning) {
        super(body, head, tuning);
    }

    /** @param lora LoRA settings, or null for full fine-tuning */
    public static CausalLm create(TransformerConfig config, ModelWeights weights, LoraConfig lora, long seed) {
        ParamRegistry registry = new ParamRegistry();
        Tuning tuning = lora == null ? Tuning.fullFineTuning(registry, seed) : Tuning.lora(lora, registry, seed);
        Gpt2Decoder body = new Gpt2Decoder(config, weights, tuning);
        tuning.checkTargetsMatched();
        registry.allocate(weights.dataType(), seed);
        return new CausalLm(body, new LmHead(body.tokenEmbedding()), tuning);
    }
}
