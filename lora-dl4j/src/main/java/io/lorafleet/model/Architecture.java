package io.lorafleet.model;

/**
 * The transformer families the engine builds, with what Hugging Face calls them: {@code model_type} in config.json,
 * the prefix its task models (BertForSequenceClassification, GPT2LMHeadModel) put before the body's tensors, and
 * whether its projections store W as in × out (GPT-2's Conv1D, PEFT's {@code fan_in_fan_out}).
 */
public enum Architecture {
    /** Post-LN encoder (BERT, MiniLM, BGE, E5). */
    BERT("bert", "bert.", false, false),
    /** Pre-LN causal decoder. */
    GPT2("gpt2", "transformer.", true, true);

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

    /** Whether checkpoints store projection weights as [in, out] (GPT-2's Conv1D) rather than nn.Linear's [out, in]. */
    public boolean inByOutWeights() { return inByOutWeights; }
}
