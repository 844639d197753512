package io.lorafleet.model;

import org.nd4j.linalg.api.ndarray.INDArray;

/** A transformer body: packed token batch in, one hidden vector per token out. */
public interface Body {
    /** → hidden states [N, d], one row per real token (see {@link PackedBatch}). */
    INDArray forward(PackedBatch batch);

    /** dHidden [N, d]; accumulates gradients of every trainable tensor of the body. */
    void backward(INDArray dHidden);

    TransformerConfig config();

    /** The body of the config's architecture, built from its checkpoint's tensors. */
    static Body of(TransformerConfig config, ModelWeights weights, Tuning tuning) {
        return switch (config.architecture()) {
            case BERT -> new BertEncoder(config, weights, tuning);
            case GPT2 -> new Gpt2Decoder(config, weights, tuning);
            case LLAMA, MISTRAL, QWEN2 -> new LlamaDecoder(config, weights, tuning);
        };
    }
}
