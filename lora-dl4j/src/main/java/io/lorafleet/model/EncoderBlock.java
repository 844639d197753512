package io.lorafleet.model;

import io.lorafleet.nn.Gelu;
import io.lorafleet.nn.LayerNorm;
import io.lorafleet.nn.Projection;
import io.lorafleet.nn.SelfAttention;
import org.nd4j.linalg.api.ndarray.INDArray;

/** A post-LN BERT layer: h = LN₁(x + Attn(x)); y = LN₂(h + W₂·gelu(W₁·h)). */
public final class EncoderBlock {
    private final SelfAttention attention;
    private final LayerNorm attentionNorm;
    private final Projection intermediate; // d → ffn
    private final Gelu gelu;
    private final Projection output;       // ffn → d
    private final LayerNorm outputNorm;

    public EncoderBlock(TransformerConfig c, ModelWeights w, Tuning tuning, int index) {
        String p = "encoder.layer." + index + ".";
        int d = c.hiddenSize(), f = c.intermediateSize();
        attention = new SelfAttention(
                projection(w, tuning, p + "attention.self.query", d, d),
                projection(w, tuning, p + "attention.self.key", d, d),
                projection(w, tuning, p + "attention.self.value", d, d),
                projection(w, tuning, p + "attention.output.dense", d, d),
                c.numHeads(), false);
        attentionNorm = norm(w, tuning, p + "attention.output.LayerNorm", d, c.layerNormEps());
        intermediate = projection(w, tuning, p + "intermediate.dense", f, d);
        gelu = new Gelu(c.activation());
        output = projection(w, tuning, p + "output.dense", d, f);
        outputNorm = norm(w, tuning, p + "output.LayerNorm", d, c.layerNormEps());
    }

    /** x [N, d], the tokens of packed sequences delimited by {@code starts} → [N, d]. */
    public INDArray forward(INDArray x, int[] starts) {
        INDArray h = attentionNorm.forward(attention.forward(x, starts).addi(x));
        INDArray ffn = output.forward(gelu.forward(intermediate.forward(h)));
        return outputNorm.forward(ffn.addi(h));
    }

    /** dy [N, d] → dx, or null when the block's input needs no gradient (frozen embeddings below). */
    public INDArray backward(INDArray dy, boolean inputGradient) {
        INDArray dSum2 = outputNorm.backward(dy);
        INDArray dh = intermediate.backward(gelu.backward(output.backward(dSum2, true)), true).addi(dSum2);
        INDArray dSum1 = attentionNorm.backward(dh);
        INDArray dx = attention.backward(dSum1, inputGradient);
        return inputGradient ? dx.addi(dSum1) : null;
    }

    static Projection projection(ModelWeights w, Tuning t, String module, int out, int in) {
        return t.projection(module, w.require(module + ".weight", out, in), w.require(module + ".bias", out));
    }

    static LayerNorm norm(ModelWeights w, Tuning t, String module, int d, double eps) {
        return new LayerNorm(t.pretrained(module + ".weight", w.require(module + ".weight", d)),
                t.pretrained(module + ".bias", w.require(module + ".bias", d)), eps);
    }
}
