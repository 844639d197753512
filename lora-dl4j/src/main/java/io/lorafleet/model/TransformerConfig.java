package io.lorafleet.model;

import io.lorafleet.nn.Gelu;

/**
 * The shape of a transformer body, with Hugging Face's config.json meanings.
 *
 * @param architecture       the family: BERT (post-LN encoder), GPT-2 (pre-LN causal decoder), or the Llama family
 * @param vocabSize          rows of the token embedding
 * @param hiddenSize         model width d
 * @param numLayers          transformer blocks
 * @param numHeads           attention (query) heads; d must be divisible by it unless the Llama part gives head_dim
 * @param intermediateSize   width of the feed-forward layer
 * @param maxPositions       rows of the learned position embedding; with rotary positions, the longest position trained
 * @param typeVocabSize      token-type (segment) embeddings; 0 for models without them
 * @param layerNormEps       epsilon inside every LayerNorm (RMSNorm in the Llama family)
 * @param activation         feed-forward activation: BERT's exact erf GELU, or GPT-2's tanh form; null in the Llama
 *                           family, whose feed-forward is SwiGLU (SiLU-gated)
 * @param llama              what the Llama family adds (null for BERT and GPT-2)
 */
public record TransformerConfig(Architecture architecture, int vocabSize, int hiddenSize, int numLayers, int numHeads,
                                int intermediateSize, int maxPositions, int typeVocabSize, double layerNormEps,
                                Gelu.Form activation, Llama llama) {
    /**
     * What a Llama-family config.json adds to the shared shape.
     *
     * @param numKeyValueHeads heads of k and v (grouped-query attention); divides numHeads
     * @param headDim          width of one head (q, k, v are heads × headDim wide)
     * @param rope             the rotary position embedding's frequencies
     * @param tiedEmbeddings   whether the LM head is the token embedding (tie_word_embeddings) or its own lm_head
     * @param qkvBias          whether q_proj, k_proj and v_proj have biases (Qwen2; Llama's attention_bias)
     * @param outputBias       whether o_proj has a bias (Llama's attention_bias)
     * @param mlpBias          whether gate_proj, up_proj and down_proj have biases (Llama's mlp_bias)
     * @param slidingWindows   per layer, the keys a query sees (itself and the window − 1 before it), or 0 for all earlier keys
     */
    public record Llama(int numKeyValueHeads, int headDim, Rope rope, boolean tiedEmbeddings, boolean qkvBias, boolean outputBias,
                        boolean mlpBias, java.util.List<Integer> slidingWindows) {
        public Llama {
            positive("num_key_value_heads", numKeyValueHeads);
            positive("head_dim", headDim);
            if (headDim % 2 != 0) throw new IllegalArgumentException("head_dim must be even for rotary positions, got " + headDim);
            if (rope == null) throw new IllegalArgumentException("rope: required");
            slidingWindows = java.util.List.copyOf(slidingWindows);
            for (int w : slidingWindows) if (w < 0) throw new IllegalArgumentException("sliding_window must be >= 0, got " + w);
        }
    }

    /**
     * Rotary position embedding (RoFormer, arXiv 2104.09864) as Hugging Face computes its inverse frequencies.
     *
     * @param theta     rope_theta, the base wavelength
     * @param type      "default", "linear" (positions divided by factor) or "llama3" (Llama 3.1's frequency-dependent scaling)
     * @param factor    the scaling factor (1 for default)
     * @param lowFreqFactor  llama3's low_freq_factor
     * @param highFreqFactor llama3's high_freq_factor
     * @param originalMaxPositions llama3's original_max_position_embeddings
     */
    public record Rope(double theta, String type, double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions) {
        public Rope {
            if (!(theta > 0)) throw new IllegalArgumentException("rope_theta must be > 0, got " + theta);
            if (!java.util.Set.of("default", "linear", "llama3").contains(type)) {
                throw new IllegalArgumentException("rope type '" + type + "' is not supported (default, linear, llama3)");
            }
            if (!(factor > 0)) throw new IllegalArgumentException("rope factor must be > 0, got " + factor);
            if (type.equals("llama3") && !(highFreqFactor > lowFreqFactor && lowFreqFactor > 0 && originalMaxPositions > 0)) {
                throw new IllegalArgumentException("llama3 rope scaling needs 0 < low_freq_factor < high_freq_factor and original_max_position_embeddings > 0");
            }
        }

        public static Rope plain(double theta) {
            return new Rope(theta, "default", 1, 0, 0, 0);
        }

        /**
         * The inverse frequency of each pair of dimensions (i, i + headDim/2): [headDim/2], in float32 arithmetic step for
         * step as transformers computes them (a rotation angle is position × frequency, and at position 2,000 a last-bit
         * difference in either is 1e-4 of a radian).
         */
        public float[] inverseFrequencies(int headDim) {
            float[] inv = new float[headDim / 2];
            for (int i = 0; i < inv.length; i++) {
                float f = 1f / (float) Math.pow((float) theta, (float) (2 * i) / headDim);
                inv[i] = switch (type) {
                    case "linear" -> f / (float) factor;
                    case "llama3" -> llama3(f);
                    default -> f;
                };
            }
            return inv;
        }

        /** Long wavelengths divided by factor, short ones kept, those between interpolated. */
        private float llama3(float f) {
            float wavelength = (float) (2 * Math.PI) / f;
            float lowFreqWavelength = (float) (originalMaxPositions / lowFreqFactor), highFreqWavelength = (float) (originalMaxPositions / highFreqFactor);
            if (wavelength < highFreqWavelength) return f;
            if (wavelength > lowFreqWavelength) return f / (float) factor;
            float smooth = (originalMaxPositions / wavelength - (float) lowFreqFactor) / (float) (highFreqFactor - lowFreqFactor);
            return (1 - smooth) * (f / (float) factor) + smooth * f;
        }
    }

    /** BERT and GPT-2 shapes. */
    public TransformerConfig(Architecture architecture, int vocabSize, int hiddenSize, int numLayers, int numHeads, int intermediateSize,
                             int maxPositions, int typeVocabSize, double layerNormEps, Gelu.Form activation) {
        this(architecture, vocabSize, hiddenSize, numLayers, numHeads, intermediateSize, maxPositions, typeVocabSize, layerNormEps, activation, null);
    }

    public TransformerConfig {
        if (architecture == null) throw new IllegalArgumentException("architecture: required");
        if (architecture.llamaFamily() != (llama != null)) {
            throw new IllegalArgumentException(architecture.modelType() + (llama == null ? " needs" : " has no") + " Llama-family settings");
        }
        positive("vocab_size", vocabSize);
        positive("hidden_size", hiddenSize);
        positive("num_hidden_layers", numLayers);
        positive("num_attention_heads", numHeads);
        positive("intermediate_size", intermediateSize);
        positive("max_position_embeddings", maxPositions);
        if (llama != null) {
            if (numHeads % llama.numKeyValueHeads() != 0) {
                throw new IllegalArgumentException("num_attention_heads " + numHeads + " is not a multiple of num_key_value_heads " + llama.numKeyValueHeads());
            }
            if (llama.slidingWindows().size() != numLayers) {
                throw new IllegalArgumentException(llama.slidingWindows().size() + " sliding windows for " + numLayers + " layers");
            }
        } else if (hiddenSize % numHeads != 0) {
            throw new IllegalArgumentException("hidden_size " + hiddenSize + " is not divisible by num_attention_heads " + numHeads);
        }
        if (!(layerNormEps > 0)) throw new IllegalArgumentException("layer_norm_eps must be > 0, got " + layerNormEps);
    }

    public boolean causal() { return architecture.causal(); }

    /** Width of one attention head. */
    public int headDim() { return llama != null ? llama.headDim() : hiddenSize / numHeads; }

    /** A Llama-family decoder (llama, mistral or qwen2) with the given settings. */
    public static TransformerConfig llama(Architecture architecture, int vocab, int hidden, int layers, int heads, int intermediate, int maxPositions,
                                          double rmsNormEps, Llama llama) {
        return new TransformerConfig(architecture, vocab, hidden, layers, heads, intermediate, maxPositions, 0, rmsNormEps, null, llama);
    }

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
