package io.lorafleet.nn;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.custom.SoftMax;
import org.nd4j.linalg.factory.Broadcast;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Scaled dot-product attention over already-projected q, k, v: ctx = softmax(q·kᵀ/√d_head + mask)·v,
 * per head. Padding keys (attention mask 0) and, when causal, future keys get a bias of −1e9.
 * Rows are token positions of B sequences of T tokens: row b·T + t.
 */
public final class AttentionCore {
    private static final double MASKED = -1e9;

    private final int heads;
    private final boolean causal;
    private INDArray qh, kh, vh; // [B, H, T, dh]
    private INDArray probs;      // [B, H, T, T]
    private int batch, seqLen;
    private double scale;

    public AttentionCore(int heads, boolean causal) {
        this.heads = heads;
        this.causal = causal;
    }

    /** q, k, v [B·T, d]; attentionMask [B, T] with 1 for real tokens and 0 for padding, or null → ctx [B·T, d]. */
    public INDArray forward(INDArray q, INDArray k, INDArray v, int batch, int seqLen, INDArray attentionMask) {
        this.batch = batch;
        this.seqLen = seqLen;
        long d = q.columns();
        if (d % heads != 0) throw new IllegalArgumentException("hidden size " + d + " is not divisible by " + heads + " heads");
        scale = 1.0 / Math.sqrt((double) d / heads);
        qh = splitHeads(q);
        kh = splitHeads(k);
        vh = splitHeads(v);
        INDArray scores = Nd4j.create(q.dataType(), batch, heads, seqLen, seqLen);
        Nd4j.matmul(qh, kh, scores, false, true, false);
        INDArray keyBias = attentionMask == null ? null
                : attentionMask.castTo(q.dataType()).sub(1.0).muli(-MASKED).reshape('c', batch, seqLen); // 0 for tokens, −1e9 for padding
        probs = scores.ulike();
        if (VectorKernels.applicable(scores) && (keyBias == null || VectorKernels.applicable(keyBias))) {
            VectorKernels.attentionSoftmax(scores, probs, scale, keyBias, causal);
        } else {
            scores.muli(scale);
            if (keyBias != null) Broadcast.add(scores, keyBias, scores, 0, 3);
            if (causal) Broadcast.add(scores, causalBias(q), scores, 2, 3);
            Nd4j.exec(new SoftMax(scores, probs, 3));
        }
        INDArray ctx = Nd4j.create(q.dataType(), batch, heads, seqLen, d / heads);
        Nd4j.matmul(probs, vh, ctx, false, false, false);
        return mergeHeads(ctx);
    }

    /** dctx [B·T, d] → {dq, dk, dv}, each [B·T, d]. */
    public INDArray[] backward(INDArray dctx) {
        INDArray dctxh = splitHeads(dctx);
        INDArray dprobs = probs.ulike();
        Nd4j.matmul(dctxh, vh, dprobs, false, true, false);
        INDArray dvh = vh.ulike();
        Nd4j.matmul(probs, dctxh, dvh, true, false, false);
        // softmax backward: ds = p ⊙ (dp − Σ_j dp_j p_j), then the 1/√d_head of the scores
        INDArray dscores;
        if (VectorKernels.applicable(probs, dprobs)) {
            VectorKernels.softmaxBackward(probs, dprobs, scale);
            dscores = dprobs;
        } else {
            INDArray rowDot = dprobs.mul(probs).sum(3);
            Broadcast.sub(dprobs, rowDot, dprobs, 0, 1, 2);
            dscores = dprobs.muli(probs).muli(scale);
        }
        INDArray dqh = qh.ulike();
        Nd4j.matmul(dscores, kh, dqh, false, false, false);
        INDArray dkh = kh.ulike();
        Nd4j.matmul(dscores, qh, dkh, true, false, false);
        return new INDArray[] {mergeHeads(dqh), mergeHeads(dkh), mergeHeads(dvh)};
    }

    private INDArray splitHeads(INDArray x) { // [B·T, d] → [B, H, T, dh]
        long dh = x.columns() / heads;
        return x.reshape('c', batch, seqLen, heads, dh).permute(0, 2, 1, 3).dup('c');
    }

    private INDArray mergeHeads(INDArray x) { // [B, H, T, dh] → [B·T, d]
        return x.permute(0, 2, 1, 3).dup('c').reshape('c', (long) batch * seqLen, x.size(1) * x.size(3));
    }

    private INDArray causalBias(INDArray like) { // [T, T], −1e9 where key > query
        INDArray bias = Nd4j.create(like.dataType(), seqLen, seqLen);
        for (int query = 0; query < seqLen - 1; query++) {
            bias.get(org.nd4j.linalg.indexing.NDArrayIndex.point(query),
                    org.nd4j.linalg.indexing.NDArrayIndex.interval(query + 1, seqLen)).assign(MASKED);
        }
        return bias;
    }
}
