package io.lorafleet.model;

import io.lorafleet.nn.FusedSelfAttention;
import io.lorafleet.nn.Gelu;
import io.lorafleet.nn.KeyValueCache;
import io.lorafleet.nn.LayerNorm;
import io.lorafleet.nn.Projection;
import org.nd4j.linalg.api.ndarray.INDArray;

/** A pre-LN GPT-2 block with causal attention: h = x + Attn(LN₁(x)); y = h + W₂·gelu(W₁·LN₂(h)). */
public final class DecoderBlock {
    private final LayerNorm norm1;
    private final FusedSelfAttention attention;
    private final LayerNorm norm2;
    private final Projection fc;   // d → ffn
    private final Gelu gelu;
    private final Projection proj; // ffn → d

    /** Block {@code index}'s tensors, as a Hugging Face GPT-2 checkpoint names and shapes them (Conv1D: weight [in, out]). */
    static void layout(TransformerConfig c, int index, CheckpointLayers.Layout s) {
        String p = prefix(index);
        long d = c.hiddenSize(), f = c.intermediateSize();
        s.layerNorm(p + "ln_1", d).conv1d(p + "attn.c_attn", d, 3 * d).conv1d(p + "attn.c_proj", d, d)
                .layerNorm(p + "ln_2", d).conv1d(p + "mlp.c_fc", d, f).conv1d(p + "mlp.c_proj", f, d);
    }

    public DecoderBlock(TransformerConfig c, CheckpointLayers layers, int index) {
        String p = prefix(index);
        norm1 = layers.layerNorm(p + "ln_1", c.layerNormEps());
        attention = new FusedSelfAttention(layers.conv1d(p + "attn.c_attn"), layers.conv1d(p + "attn.c_proj"), c.numHeads(), true);
        norm2 = layers.layerNorm(p + "ln_2", c.layerNormEps());
        fc = layers.conv1d(p + "mlp.c_fc");
        gelu = new Gelu(c.activation());
        proj = layers.conv1d(p + "mlp.c_proj");
    }

    private static String prefix(int index) {
        return "h." + index + ".";
    }

    /** x [N, d], the tokens of packed sequences delimited by {@code starts} → [N, d]. */
    public INDArray forward(INDArray x, int[] starts) {
        INDArray h = attention.forward(norm1.forward(x), starts).addi(x);
        return proj.forward(gelu.forward(fc.forward(norm2.forward(h)))).addi(h);
    }

    /** One decoding step (see {@link FusedSelfAttention#decode}): x [B, d], a token per sequence → [B, d]. */
    public INDArray decode(INDArray x, int[] sequences, KeyValueCache cache) {
        INDArray h = attention.decode(norm1.forward(x), sequences, cache).addi(x);
        return proj.forward(gelu.forward(fc.forward(norm2.forward(h)))).addi(h);
    }

    KeyValueCache newCache(int sequences) {
        return attention.newCache(sequences);
    }

    /** dy [N, d] → dx, or null when the block's input needs no gradient (frozen embeddings below). */
    public INDArray backward(INDArray dy, boolean inputGradient) {
        INDArray dh = norm2.backward(fc.backward(gelu.backward(proj.backward(dy, true)), true)).addi(dy);
        boolean normGradient = inputGradient || norm1.trainable();
        INDArray dAttention = attention.backward(dh, normGradient);
        if (!normGradient) return null;
        INDArray dx = norm1.backward(dAttention);
        return inputGradient ? dx.addi(dh) : null;
    }
}
