package io.lorafleet.model;

import io.lorafleet.nn.FusedSelfAttention;
import io.lorafleet.nn.Gelu;
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

    public DecoderBlock(TransformerConfig c, ModelWeights w, Tuning tuning, int index) {
        String p = "h." + index + ".";
        int d = c.hiddenSize(), f = c.intermediateSize();
        norm1 = EncoderBlock.norm(w, tuning, p + "ln_1", d, c.layerNormEps());
        attention = new FusedSelfAttention(conv1d(w, tuning, p + "attn.c_attn", d, 3 * d), conv1d(w, tuning, p + "attn.c_proj", d, d),
                c.numHeads(), true);
        norm2 = EncoderBlock.norm(w, tuning, p + "ln_2", d, c.layerNormEps());
        fc = conv1d(w, tuning, p + "mlp.c_fc", d, f);
        gelu = new Gelu(c.activation());
        proj = conv1d(w, tuning, p + "mlp.c_proj", f, d);
    }

    /** x [N, d], the tokens of packed sequences delimited by {@code starts} → [N, d]. */
    public INDArray forward(INDArray x, int[] starts) {
        INDArray h = attention.forward(norm1.forward(x), starts).addi(x);
        return proj.forward(gelu.forward(fc.forward(norm2.forward(h)))).addi(h);
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

    /** GPT-2's Conv1D stores its weight [in, out]; our projections take [out, in]. */
    private static Projection conv1d(ModelWeights w, Tuning t, String module, int in, int out) {
        INDArray weight = w.require(module + ".weight", in, out).transpose().dup('c');
        return t.projection(module, weight, w.require(module + ".bias", out));
    }
}
