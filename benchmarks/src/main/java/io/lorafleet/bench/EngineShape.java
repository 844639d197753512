package io.lorafleet.bench;

import io.lorafleet.model.TransformerConfig;

import java.util.List;

/**
 * A benchmark workload: a transformer shape, a batch shape and the LoRA rank, with its analytic FLOP count.
 *
 * @param name       "minilm" (6-layer d=384 encoder with a classifier, all-MiniLM-L6-v2's shape) or
 *                   "gpt2-block" (one GPT-2-width decoder block, no embeddings or head), or "llama-block" (one
 *                   decoder layer in SmolLM2-135M's Llama shape: d=576, 9 query heads sharing 3 key/value heads of 64, SwiGLU 1536)
 * @param config     the transformer shape
 * @param batch      sequences per step
 * @param seqLen     tokens per sequence (no padding)
 * @param rank       LoRA rank on the attention projections
 */
public record EngineShape(String name, TransformerConfig config, int batch, int seqLen, int rank) {
    public static EngineShape named(String name) {
        return switch (name) {
            case "minilm" -> new EngineShape(name, TransformerConfig.bert(30522, 384, 6, 12, 1536, 512), 16, 128, 8);
            case "gpt2-block" -> new EngineShape(name, TransformerConfig.gpt2(50257, 768, 1, 12, 1024), 4, 128, 8);
            case "llama-block" -> new EngineShape(name, TransformerConfig.llama(io.lorafleet.model.Architecture.LLAMA, 49152, 576, 1, 9, 1536, 8192, 1e-5,
                    new TransformerConfig.Llama(3, 64, TransformerConfig.Rope.plain(100000), true, false, false, false, List.of(0))), 4, 128, 8);
            default -> throw new IllegalArgumentException("unknown shape " + name + "; known: minilm, gpt2-block, llama-block");
        };
    }

    /**
     * FLOPs of one training step's matrix products: forward, the input gradients of every projection and
     * attention product, and — for full fine-tuning — the weight gradients too. LoRA's own products
     * (rank r) are included; elementwise work is not. Under LoRA the first layer's q, k, v projections
     * need no input gradient (their input is frozen embeddings, or the benchmark's random input), and none
     * is computed, as in PyTorch.
     */
    public double flopsPerStep(boolean fullFineTuning) {
        double n = (double) batch * seqLen, d = config.hiddenSize(), f = config.intermediateSize();
        if (config.llama() != null) {
            double q = (double) config.numHeads() * config.headDim(), kv = (double) config.llama().numKeyValueHeads() * config.headDim();
            double projections = 2 * n * d * (2 * q + 2 * kv + 3 * f);     // q, k, v, o, gate, up, down
            double attention = 2 * 2 * batch * (double) seqLen * seqLen * q;
            double lora = 2 * n * rank * ((d + q) + (d + kv)) * 3;         // q_proj and v_proj: forward, dA/dB, dx
            return projections + attention + projections + 2 * attention + lora - 2 * n * d * (q + 2 * kv); // no input gradient for the block's input
        }
        double projections = 2 * n * d * (4 * d + 2 * f);                 // q, k, v, o, ffn in, ffn out
        double attention = 2 * 2 * batch * (double) seqLen * seqLen * d;  // q·kᵀ and p·v over all heads
        double perLayer = projections + attention                         // forward
                + projections + 2 * attention                             // input gradients (4 attention products)
                + (fullFineTuning ? projections : 0);                     // weight gradients
        double loraPerTarget = 2 * n * rank * (d + d) * 3;                 // forward, dA/dB and dx of the rank-r path
        int targets = name.equals("gpt2-block") ? 3 : 2;                  // fused c_attn carries q, k and v
        double skippedInputGradient = fullFineTuning ? 0 : 2 * n * d * 3 * d;
        return config.numLayers() * (perLayer + (fullFineTuning ? 0 : targets * loraPerTarget)) - skippedInputGradient;
    }
}
