package io.lorafleet.model;

import io.lorafleet.nn.Param;
import io.lorafleet.nn.SoftmaxCrossEntropy;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The LM head tied to the token embedding: logits = h·wteᵀ. As in Hugging Face's GPT2LMHeadModel, the
 * labels are the input positions' own tokens and the head shifts them: position t predicts label t+1.
 */
public final class LmHead implements TaskHead {
    private final Param wte; // [vocab, d], the decoder's token embedding
    private INDArray hidden; // [B·T, d], kept only when wte is trainable

    public LmHead(Param wte) {
        this.wte = wte;
    }

    @Override
    public INDArray logits(INDArray hidden, TokenBatch batch) {
        this.hidden = wte.trainable() ? hidden : null;
        INDArray logits = Nd4j.create(hidden.dataType(), hidden.rows(), wte.shape()[0]);
        Nd4j.gemm(hidden, wte.value(), logits, false, true, 1.0, 0.0);
        return logits;
    }

    /** Target of position t is label t+1 of the same sequence; the last position and padding are ignored. */
    @Override
    public int[] targets(TokenBatch batch) {
        int[] labels = batch.labels();
        if (labels == null || labels.length != batch.rows()) {
            throw new IllegalArgumentException("a causal LM batch needs one label per token (" + batch.rows() + ")");
        }
        int[] targets = new int[labels.length];
        for (int b = 0; b < batch.batchSize(); b++) {
            for (int t = 0; t < batch.seqLen(); t++) {
                int i = b * batch.seqLen() + t;
                boolean last = t == batch.seqLen() - 1;
                targets[i] = last || batch.attentionMask()[i + 1] == 0 ? SoftmaxCrossEntropy.IGNORE_INDEX : labels[i + 1];
            }
        }
        return targets;
    }

    @Override
    public INDArray backward(INDArray dlogits) {
        if (wte.trainable()) Nd4j.gemm(dlogits, hidden, wte.grad(), true, false, 1.0, 1.0);
        INDArray dHidden = Nd4j.create(dlogits.dataType(), dlogits.rows(), wte.shape()[1]);
        Nd4j.gemm(dlogits, wte.value(), dHidden, false, false, 1.0, 0.0);
        return dHidden;
    }
}
