package io.lorafleet.model;

import io.lorafleet.nn.GroupedQueryAttention;
import io.lorafleet.nn.KeyValueCache;
import io.lorafleet.nn.RmsNorm;
import io.lorafleet.nn.RotaryEmbedding;
import io.lorafleet.nn.SwiGlu;
import org.nd4j.linalg.api.ndarray.INDArray;

/** A Llama decoder layer: h = x + Attn(RMSNorm₁(x)); y = h + SwiGLU(RMSNorm₂(h)), attention with rotary positions and GQA. */
public final class LlamaBlock {
    private final RmsNorm inputNorm;
    private final GroupedQueryAttention attention;
    private final RmsNorm postAttentionNorm;
    private final SwiGlu mlp;

    /** Layer {@code index}'s tensors, as Hugging Face's LlamaModel, MistralModel and Qwen2Model name and shape them. */
    static void layout(TransformerConfig c, int index, CheckpointLayers.Layout s) {
        String p = prefix(index);
        TransformerConfig.Llama l = c.llama();
        long d = c.hiddenSize(), f = c.intermediateSize(), q = (long) c.numHeads() * l.headDim(), kv = (long) l.numKeyValueHeads() * l.headDim();
        s.rmsNorm(p + "input_layernorm", d)
                .linear(p + "self_attn.q_proj", q, d, l.qkvBias()).linear(p + "self_attn.k_proj", kv, d, l.qkvBias())
                .linear(p + "self_attn.v_proj", kv, d, l.qkvBias()).linear(p + "self_attn.o_proj", d, q, l.outputBias())
                .rmsNorm(p + "post_attention_layernorm", d)
                .linear(p + "mlp.gate_proj", f, d, l.mlpBias()).linear(p + "mlp.up_proj", f, d, l.mlpBias()).linear(p + "mlp.down_proj", d, f, l.mlpBias());
    }

    public LlamaBlock(TransformerConfig c, CheckpointLayers layers, int index) {
        String p = prefix(index);
        TransformerConfig.Llama l = c.llama();
        inputNorm = layers.rmsNorm(p + "input_layernorm", c.layerNormEps());
        attention = new GroupedQueryAttention(layers.linear(p + "self_attn.q_proj"), layers.linear(p + "self_attn.k_proj"),
                layers.linear(p + "self_attn.v_proj"), layers.linear(p + "self_attn.o_proj"), c.numHeads(), l.numKeyValueHeads(),
                l.slidingWindows().get(index));
        postAttentionNorm = layers.rmsNorm(p + "post_attention_layernorm", c.layerNormEps());
        mlp = new SwiGlu(layers.linear(p + "mlp.gate_proj"), layers.linear(p + "mlp.up_proj"), layers.linear(p + "mlp.down_proj"));
    }

    private static String prefix(int index) {
        return "layers." + index + ".";
    }

    /** x [N, d], the tokens of packed sequences delimited by {@code starts}, with their rotary angles → [N, d]. */
    public INDArray forward(INDArray x, int[] starts, RotaryEmbedding.Angles angles) {
        INDArray h = attention.forward(inputNorm.forward(x), starts, angles).addi(x);
        return mlp.forward(postAttentionNorm.forward(h)).addi(h);
    }

    /** One decoding step (see {@link GroupedQueryAttention#decode}): x [B, d], a token per sequence → [B, d]. */
    public INDArray decode(INDArray x, int[] sequences, RotaryEmbedding.Angles angles, KeyValueCache cache) {
        INDArray h = attention.decode(inputNorm.forward(x), sequences, angles, cache).addi(x);
        return mlp.forward(postAttentionNorm.forward(h)).addi(h);
    }

    KeyValueCache newCache(int sequences) {
        return attention.newCache(sequences);
    }

    /** dy [N, d] → dx, or null when the block's input needs no gradient (frozen embeddings below). */
    public INDArray backward(INDArray dy, boolean inputGradient) {
        INDArray dh = postAttentionNorm.backward(mlp.backward(dy, true)).addi(dy);
        boolean normGradient = inputGradient || inputNorm.trainable();
        INDArray dAttention = attention.backward(dh, normGradient);
        if (!normGradient) return null;
        INDArray dx = inputNorm.backward(dAttention);
        return inputGradient ? dx.addi(dh) : null;
    }
}
