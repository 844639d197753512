package io.lorafleet.model;

import io.lorafleet.nn.Gelu;

/**
 * The shape of a transformer body, with Hugging Face's config.json meanings.
 *
 * @param architecture       the family: BERT (post-LN encoder) or GPT-2 (pre-LN causal decoder)
 * @param vocabSize          rows of the token embedding
 * @param hiddenSize         model width d
 * @param numLayers          transformer blocks
 * @param numHeads           attention heads; d must be divisible by it
 * @param intermediateSize   width of the feed-forward layer
 * @param maxPositions       rows of the learned position embedding
 * @param typeVocabSize      token-type (segment) embeddings; 0 for models without them
 * @param layerNormEps       epsilon inside every LayerNorm
 * @param activation         feed-forward activation: BERT's exact erf GELU, or GPT-2's tanh form
 */
public record TransformerConfig(Architecture architecture, int vocabSize, int hiddenSize, int numLayers, int numHeads,
                                int intermediateSize, int maxPositions, int typeVocabSize, double layerNormEps,
                                Gelu.Form activation) {
    public TransformerConfig {
        if (architecture == null) throw new IllegalArgumentException("architecture: required");
        positive("vocab_size", vocabSize);
        positive("hidden_size", hiddenSize);
        positive("num_hidden_layers", numLayers);
        positive("num_attention_heads", numHeads);
        positive("intermediate_size", intermediateSize);
        positive("max_position_embeddings", maxPositions);
        if (hiddenSize % numHeads != 0) {
            throw new IllegalArgumentException("hidden_size " + hiddenSize + " is not divisible by num_attention_heads " + numHeads);
        }
        if (!(layerNormEps > 0)) throw new IllegalArgumentException("layer_norm_eps must be > 0, got " + layerNormEps);
    }

    public boolean causal() { return architecture.causal(); }

    /** A BERT-family encoder (MiniLM, BGE, E5 are BERT). */
    public static TransformerConfig bert(int vocab, int hidden, int layers, int heads, int intermediate, int maxPositions) {
        return new TransformerConfig(Architecture.BERT, vocab, hidden, layers, heads, intermediate, maxPositions, 2, 1e-12, Gelu.Form.ERF);
    }

    /** A GPT-2-family decoder: FFN width 4d, tanh GELU. */
    public static TransformerConfig gpt2(int vocab, int hidden, int layers, int heads, int maxPositions) {
        return new TransformerConfig(Architecture.GPT2, vocab, hidden, layers, heads, 4 * hidden, maxPositions, 0, 1e-5, Gelu.Form.TANH);
    }

    private static void positive(String key, int value) {
        if (value <= 0) throw new IllegalArgumentException(key + " must be > 0, got " + value);
    }
}
