package io.lorafleet.model;

import io.lorafleet.nn.Param;
import io.lorafleet.nn.SoftmaxCrossEntropy;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The LM head: logits = h·Wᵀ with W the token embedding (tied, GPT-2) or the decoder's own lm_head. As in Hugging
 * Face's *ForCausalLM models, the labels are the input positions' own tokens and the head shifts them: position t
 * predicts label t+1.
 */
public final class LmHead implements TaskHead {
    private final Param weight; // [vocab, d]: the token embedding (tied) or lm_head
    private INDArray hidden; // [N, d], kept only when weight is trainable

    public LmHead(Param weight) {
        this.weight = weight;
    }

    @Override
    public INDArray logits(INDArray hidden, PackedBatch batch) {
        this.hidden = weight.trainable() ? hidden : null;
        INDArray logits = Nd4j.createUninitialized(hidden.dataType(), hidden.rows(), weight.shape()[0]);
        Nd4j.gemm(hidden, weight.value(), logits, false, true, 1.0, 0.0);
        return logits;
    }

    /** Target of a sequence's token t is its token t+1; its last token has none. */
    @Override
    public int[] targets(PackedBatch batch) {
        int[] labels = batch.labels();
        if (labels == null || labels.length != batch.rows()) {
            throw new IllegalArgumentException("a causal LM batch needs one label per token (" + batch.rows() + ")");
        }
        int[] targets = new int[labels.length];
        for (int s = 0; s < batch.sequences(); s++) {
            int last = batch.start(s + 1) - 1;
            for (int i = batch.start(s); i < last; i++) targets[i] = labels[i + 1];
            targets[last] = SoftmaxCrossEntropy.IGNORE_INDEX;
        }
        return targets;
    }

    @Override
    public INDArray backward(INDArray dlogits) {
        if (weight.trainable()) Nd4j.gemm(dlogits, hidden, weight.grad(), true, false, 1.0, 1.0);
        INDArray dHidden = Nd4j.createUninitialized(dlogits.dataType(), dlogits.rows(), weight.shape()[1]);
        Nd4j.gemm(dlogits, weight.value(), dHidden, false, false, 1.0, 0.0);
        return dHidden;
    }
}
