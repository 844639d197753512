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

    /** Layer {@code index}'s tensors, as a Hugging Face BERT checkpoint names and shapes them. */
    static void layout(TransformerConfig c, int index, CheckpointLayers.Layout s) {
        String p = prefix(index);
        long d = c.hiddenSize(), f = c.intermediateSize();
        for (String m : new String[] {"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"}) {
            s.linear(p + m, d, d);
        }
        s.layerNorm(p + "attention.output.LayerNorm", d).linear(p + "intermediate.dense", f, d).linear(p + "output.dense", d, f)
                .layerNorm(p + "output.LayerNorm", d);
    }

    public EncoderBlock(TransformerConfig c, CheckpointLayers layers, int index) {
        String p = prefix(index);
        attention = new SelfAttention(layers.linear(p + "attention.self.query"), layers.linear(p + "attention.self.key"),
                layers.linear(p + "attention.self.value"), layers.linear(p + "attention.output.dense"), c.numHeads(), false);
        attentionNorm = layers.layerNorm(p + "attention.output.LayerNorm", c.layerNormEps());
        intermediate = layers.linear(p + "intermediate.dense");
        gelu = new Gelu(c.activation());
        output = layers.linear(p + "output.dense");
        outputNorm = layers.layerNorm(p + "output.LayerNorm", c.layerNormEps());
    }

    private static String prefix(int index) {
        return "encoder.layer." + index + ".";
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
}
