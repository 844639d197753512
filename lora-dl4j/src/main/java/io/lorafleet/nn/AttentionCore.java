package io.lorafleet.nn;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.custom.SoftMax;
import org.nd4j.linalg.factory.Broadcast;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.lang.ref.Reference;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;

import static io.lorafleet.nn.VectorKernels.S;
import static io.lorafleet.nn.VectorKernels.exp;
import static io.lorafleet.nn.VectorKernels.floats;
import static io.lorafleet.nn.VectorKernels.parallel;
import static io.lorafleet.nn.VectorKernels.sumLanes;

/**
 * Scaled dot-product attention over already-projected q, k, v: ctx = softmax(q·kᵀ/√d_head)·v per head,
 * each sequence attending only to itself (and, when causal, to earlier positions). Rows are the tokens of
 * packed sequences (no padding): sequence s owns rows [starts[s], starts[s+1]). Consecutive sequences of
 * one length are computed together as one batched product, so a batch of equal lengths is one call.
 */
public final class AttentionCore {
    private static final double MASKED = -1e9;

    private final int heads;
    private final boolean causal;
    private final List<Run> runs = new ArrayList<>();
    private double scale;

    /** Sequences [firstRow, firstRow + count·length) of one length, split into heads. */
    private record Run(long firstRow, int count, int length, INDArray qh, INDArray kh, INDArray vh, INDArray probs) { }

    public AttentionCore(int heads, boolean causal) {
        this.heads = heads;
        this.causal = causal;
    }

    /** q, k, v [N, d] for the sequences that {@code starts} delimits → ctx [N, d]. */
    public INDArray forward(INDArray q, INDArray k, INDArray v, int[] starts) {
        long d = q.columns();
        if (d % heads != 0) throw new IllegalArgumentException("hidden size " + d + " is not divisible by " + heads + " heads");
        if (q.rows() != starts[starts.length - 1]) throw new IllegalArgumentException(q.rows() + " rows for sequences of " + starts[starts.length - 1] + " tokens");
        scale = 1.0 / Math.sqrt((double) d / heads);
        runs.clear();
        INDArray ctx = Nd4j.createUninitialized(q.dataType(), q.rows(), d);
        for (int s = 0; s < starts.length - 1; ) {
            int length = starts[s + 1] - starts[s], count = 1;
            while (s + count < starts.length - 1 && starts[s + count + 1] - starts[s + count] == length) count++;
            forwardRun(q, k, v, starts[s], count, length, ctx);
            s += count;
        }
        return ctx;
    }

    /** Attention of {@code count} sequences of {@code length} tokens from {@code firstRow} on, into their rows of ctx. */
    private void forwardRun(INDArray q, INDArray k, INDArray v, long firstRow, int count, int length, INDArray ctx) {
        INDArray qh = splitHeads(q, firstRow, count, length);
        INDArray kh = splitHeads(k, firstRow, count, length);
        INDArray vh = splitHeads(v, firstRow, count, length);
        INDArray scores = Nd4j.createUninitialized(q.dataType(), count, heads, length, length);
        Nd4j.matmul(qh, kh, scores, false, true, false);
        INDArray probs;
        if (VectorKernels.applicable(scores)) {
            probs = scores; // the scores are not needed again
            softmaxKernel(scores, scale, causal);
        } else {
            probs = scores.ulike();
            scores.muli(scale);
            if (causal) Broadcast.add(scores, causalBias(q, length), scores, 2, 3);
            Nd4j.exec(new SoftMax(scores, probs, 3));
        }
        INDArray ctxh = vh.ulike();
        Nd4j.matmul(probs, vh, ctxh, false, false, false);
        mergeHeads(ctxh, ctx, firstRow);
        runs.add(new Run(firstRow, count, length, qh, kh, vh, probs));
    }

    /** dctx [N, d] → {dq, dk, dv}, each [N, d]. */
    public INDArray[] backward(INDArray dctx) {
        INDArray dq = dctx.ulike(), dk = dctx.ulike(), dv = dctx.ulike();
        for (Run run : runs) {
            INDArray dctxh = splitHeads(dctx, run.firstRow, run.count, run.length);
            INDArray dprobs = run.probs.ulike();
            Nd4j.matmul(dctxh, run.vh, dprobs, false, true, false);
            INDArray dvh = run.vh.ulike();
            Nd4j.matmul(run.probs, dctxh, dvh, true, false, false);
            // softmax backward: ds = p ⊙ (dp − Σ_j dp_j p_j), then the 1/√d_head of the scores
            INDArray dscores;
            if (VectorKernels.applicable(run.probs, dprobs)) {
                softmaxBackwardKernel(run.probs, dprobs, scale);
                dscores = dprobs;
            } else {
                INDArray rowDot = dprobs.mul(run.probs).sum(3);
                Broadcast.sub(dprobs, rowDot, dprobs, 0, 1, 2);
                dscores = dprobs.muli(run.probs).muli(scale);
            }
            INDArray dqh = run.qh.ulike();
            Nd4j.matmul(dscores, run.kh, dqh, false, false, false);
            INDArray dkh = run.kh.ulike();
            Nd4j.matmul(dscores, run.qh, dkh, true, false, false);
            mergeHeads(dqh, dq, run.firstRow);
            mergeHeads(dkh, dk, run.firstRow);
            mergeHeads(dvh, dv, run.firstRow);
        }
        return new INDArray[] {dq, dk, dv};
    }

    /** Rows [firstRow, firstRow + count·length) of x [N, d] → [count, H, length, dh]. */
    private INDArray splitHeads(INDArray x, long firstRow, int count, int length) {
        long dh = x.columns() / heads;
        if (VectorKernels.rowsContiguous(x)) {
            INDArray out = Nd4j.createUninitialized(x.dataType(), count, heads, length, dh);
            splitHeadsKernel(x, firstRow, out);
            return out;
        }
        return rows(x, firstRow, (long) count * length).reshape('c', count, length, heads, dh).permute(0, 2, 1, 3).dup('c');
    }

    /** [count, H, length, dh] → rows [firstRow, firstRow + count·length) of out [N, d]. */
    private static void mergeHeads(INDArray x, INDArray out, long firstRow) {
        if (VectorKernels.rowsContiguous(out) && VectorKernels.applicable(x)) {
            mergeHeadsKernel(x, out, firstRow);
            return;
        }
        long n = x.size(0) * x.size(2);
        rows(out, firstRow, n).assign(x.permute(0, 2, 1, 3).dup('c').reshape('c', n, x.size(1) * x.size(3)));
    }

    /**
     * Rows [firstRow, firstRow + n) of x [N, d], as a view. Built from x's buffer and strides: ND4J M2.1's
     * get(interval, all) returns an empty array for a column view with an offset (fused q, k, v).
     */
    private static INDArray rows(INDArray x, long firstRow, long n) {
        if (firstRow == 0 && n == x.rows()) return x;
        return Nd4j.create(x.data(), new long[] {n, x.columns()}, x.stride(), x.offset() + firstRow * x.stride(0), x.ordering());
    }

    private static INDArray causalBias(INDArray like, int length) { // [L, L], −1e9 where key > query
        INDArray bias = Nd4j.create(like.dataType(), length, length);
        for (int query = 0; query < length - 1; query++) {
            bias.get(NDArrayIndex.point(query), NDArrayIndex.interval(query + 1, length)).assign(MASKED);
        }
        return bias;
    }

    // The float32 fast path (VectorKernels): the formulas above, fused into one pass over heap copies of the rows.

    /**
     * Row softmax of attention scores [B, H, T, T], in place: p = softmax(scale·s) over each row's keys, with
     * keys after the query cut off (probability 0) when causal. Each row is read whole before it is written.
     */
    private static void softmaxKernel(INDArray scores, double scale, boolean causal) {
        try {
            int batch = (int) scores.size(0), heads = (int) scores.size(1), t = (int) scores.size(2);
            FloatBuffer fs = floats(scores);
            float sc = (float) scale;
            parallel(batch * heads * t, (first, end) -> {
                float[] row = new float[t], scratch = new float[S.length()];
                for (int r = first; r < end; r++) {
                    int rowStart = r * t;
                    int keys = causal ? r % t + 1 : t;
                    fs.get(rowStart, row, 0, keys);
                    FloatVector maxv = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
                    int j = 0;
                    for (int bound = S.loopBound(keys); j < bound; j += S.length()) {
                        FloatVector v = FloatVector.fromArray(S, row, j).mul(sc);
                        v.intoArray(row, j);
                        maxv = maxv.max(v);
                    }
                    float max = maxv.reduceLanes(VectorOperators.MAX);
                    for (; j < keys; j++) {
                        float v = sc * row[j];
                        row[j] = v;
                        max = Math.max(max, v);
                    }
                    FloatVector sumv = FloatVector.zero(S);
                    j = 0;
                    for (int bound = S.loopBound(keys); j < bound; j += S.length()) {
                        FloatVector e = exp(FloatVector.fromArray(S, row, j).sub(max));
                        e.intoArray(row, j);
                        sumv = sumv.add(e);
                    }
                    float sum = sumLanes(sumv, scratch);
                    for (; j < keys; j++) {
                        row[j] = exp(row[j] - max);
                        sum += row[j];
                    }
                    float inv = 1 / sum;
                    j = 0;
                    for (int bound = S.loopBound(keys); j < bound; j += S.length()) FloatVector.fromArray(S, row, j).mul(inv).intoArray(row, j);
                    for (; j < keys; j++) row[j] *= inv;
                    java.util.Arrays.fill(row, keys, t, 0f);
                    fs.put(rowStart, row, 0, t);
                }
            });
        } finally {
            Reference.reachabilityFence(scores);
        }
    }

    /** Softmax backward over rows of length T, in place: dprobs ← scale·p ⊙ (dp − Σ_j p_j·dp_j). */
    private static void softmaxBackwardKernel(INDArray probs, INDArray dprobs, double scale) {
        try {
            int t = (int) probs.size(probs.rank() - 1);
            int rows = Math.toIntExact(probs.length() / t);
            FloatBuffer fp = floats(probs), fd = floats(dprobs);
            float sc = (float) scale;
            parallel(rows, (first, end) -> {
                float[] p = new float[t], d = new float[t], scratch = new float[S.length()];
                for (int r = first; r < end; r++) {
                    fp.get(r * t, p, 0, t);
                    fd.get(r * t, d, 0, t);
                    FloatVector acc = FloatVector.zero(S);
                    int j = 0;
                    for (int bound = S.loopBound(t); j < bound; j += S.length()) acc = FloatVector.fromArray(S, p, j).fma(FloatVector.fromArray(S, d, j), acc);
                    float dot = sumLanes(acc, scratch);
                    for (int k = j; k < t; k++) dot += p[k] * d[k];
                    for (j = 0; j < S.loopBound(t); j += S.length()) {
                        FloatVector.fromArray(S, d, j).sub(dot).mul(FloatVector.fromArray(S, p, j)).mul(sc).intoArray(d, j);
                    }
                    for (; j < t; j++) d[j] = sc * p[j] * (d[j] - dot);
                    fd.put(r * t, d, 0, t);
                }
            });
        } finally {
            Reference.reachabilityFence(probs);
            Reference.reachabilityFence(dprobs);
        }
    }

    /**
     * Rows [firstRow, firstRow + count·L) of x [N, H·dh] → heads [count, H, L, dh] (C order). One bulk read
     * per row and one bulk write per sequence; ND4J's permute + dup of the same copy ran ~5× slower.
     */
    static void splitHeadsKernel(INDArray x, long firstRow, INDArray heads) {
        try {
            int count = (int) heads.size(0), h = (int) heads.size(1), length = (int) heads.size(2), dh = (int) heads.size(3);
            long rowStride = x.stride(0);
            FloatBuffer in = floats(x), out = floats(heads);
            parallel(count, (first, end) -> {
                float[] row = new float[h * dh], block = new float[h * length * dh];
                for (int s = first; s < end; s++) {
                    for (int t = 0; t < length; t++) {
                        in.get(Math.toIntExact((firstRow + (long) s * length + t) * rowStride), row, 0, row.length);
                        for (int k = 0; k < h; k++) System.arraycopy(row, k * dh, block, (k * length + t) * dh, dh);
                    }
                    out.put(s * block.length, block, 0, block.length);
                }
            });
        } finally {
            Reference.reachabilityFence(x);
            Reference.reachabilityFence(heads);
        }
    }

    /** The inverse of {@link #splitHeadsKernel}: heads [count, H, L, dh] → rows [firstRow, firstRow + count·L) of out [N, H·dh]. */
    static void mergeHeadsKernel(INDArray heads, INDArray out, long firstRow) {
        try {
            int count = (int) heads.size(0), h = (int) heads.size(1), length = (int) heads.size(2), dh = (int) heads.size(3);
            long rowStride = out.stride(0);
            FloatBuffer in = floats(heads), o = floats(out);
            parallel(count, (first, end) -> {
                float[] row = new float[h * dh], block = new float[h * length * dh];
                for (int s = first; s < end; s++) {
                    in.get(s * block.length, block, 0, block.length);
                    for (int t = 0; t < length; t++) {
                        for (int k = 0; k < h; k++) System.arraycopy(block, (k * length + t) * dh, row, k * dh, dh);
                        o.put(Math.toIntExact((firstRow + (long) s * length + t) * rowStride), row, 0, row.length);
                    }
                }
            });
        } finally {
            Reference.reachabilityFence(heads);
            Reference.reachabilityFence(out);
        }
    }
}
