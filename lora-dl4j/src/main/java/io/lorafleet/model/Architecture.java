package io.lorafleet.model;

/**
 * The transformer families the engine builds, with what Hugging Face calls them: {@code model_type} in config.json,
 * the prefix its task models (BertForSequenceClassification, GPT2LMHeadModel, LlamaForCausalLM) put before the body's tensors, and
 * whether its projections store W as in × out (GPT-2's Conv1D, PEFT's {@code fan_in_fan_out}).
 */
public enum Architecture {
    /** Post-LN encoder (BERT, MiniLM, BGE, E5). */
    BERT("bert", "bert.", false, false),
    /** Pre-LN causal decoder. */
    GPT2("gpt2", "transformer.", true, true),
    /** Pre-RMSNorm causal decoder with rotary positions, SwiGLU and grouped-query attention ({@link LlamaDecoder}). */
    LLAMA("llama", "model.", true, false),
    /** Llama's decoder with sliding-window attention. */
    MISTRAL("mistral", "model.", true, false),
    /** Llama's decoder with q/k/v biases and optional sliding-window layers. */
    QWEN2("qwen2", "model.", true, false);

    private final String modelType;
    private final String bodyPrefix;
    private final boolean causal;
    private final boolean inByOutWeights;

    Architecture(String modelType, String bodyPrefix, boolean causal, boolean inByOutWeights) {
        this.modelType = modelType;
        this.bodyPrefix = bodyPrefix;
        this.causal = causal;
        this.inByOutWeights = inByOutWeights;
    }

    /** config.json's model_type, or null when it names no architecture we build. */
    public static Architecture ofModelType(String modelType) {
        for (Architecture a : values()) if (a.modelType.equals(modelType)) return a;
        return null;
    }

    /** config.json's model_type. */
    public String modelType() { return modelType; }

    /** The prefix of the body's tensors in Hugging Face's task models. */
    public String bodyPrefix() { return bodyPrefix; }

    public boolean causal() { return causal; }

    /** Whether the body is {@link LlamaDecoder}'s (Llama, Mistral, Qwen2), configured by {@link TransformerConfig.Llama}. */
    public boolean llamaFamily() { return this == LLAMA || this == MISTRAL || this == QWEN2; }

    /** Hugging Face's causal-LM class for this family, as config.json's {@code architectures} names it. */
    public String causalLmClass() {
        return switch (this) {
            case BERT -> throw new IllegalStateException("BERT is not a causal LM");
            case GPT2 -> "GPT2LMHeadModel";
            case LLAMA -> "LlamaForCausalLM";
            case MISTRAL -> "MistralForCausalLM";
            case QWEN2 -> "Qwen2ForCausalLM";
        };
    }

    /** Hugging Face's sequence-classifier class for this family. */
    public String classifierClass() {
        return switch (this) {
            case BERT -> "BertForSequenceClassification";
            case GPT2 -> "GPT2ForSequenceClassification";
            case LLAMA -> "LlamaForSequenceClassification";
            case MISTRAL -> "MistralForSequenceClassification";
            case QWEN2 -> "Qwen2ForSequenceClassification";
        };
    }

    /** Whether checkpoints store projection weights as [in, out] (GPT-2's Conv1D) rather than nn.Linear's [out, in]. */
    public boolean inByOutWeights() { return inByOutWeights; }
}
