package io.lorafleet.nn;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.custom.SoftMax;
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
 * each sequence attending only to itself (and, when causal, to earlier positions; with a sliding window, to the
 * last {@code window} of them, itself included, as Mistral's and Qwen2's sliding layers do). Rows are the tokens of
 * packed sequences (no padding): sequence s owns rows [starts[s], starts[s+1]). Consecutive sequences of
 * one length form a run; each run keeps its probabilities [count, H, L, L] for the backward pass, and q, k,
 * v are kept as given (not split into heads).
 *
 * <p>In float32 each (sequence, head) is computed whole by one thread on heap copies of its rows (the
 * kernels below); ND4J's batched matmul on these small per-head products ran at ~35 GFLOP/s and did not
 * speed up with a second thread (measured), and the head split/merge copies are not needed. The plain ND4J
 * formulas run in float64, where the gradient checks run, and are what the kernels are tested against.
 */
public final class AttentionCore {
    private static final double MASKED = -1e9;

    private final int heads;
    private final boolean causal;
    private final int window; // 0: no window
    private final List<Run> runs = new ArrayList<>();
    private double scale;
    private INDArray q, k, v;
    private boolean kernels;

    /** Sequences [firstRow, firstRow + count·length) of one length, and their attention probabilities [count, H, L, L]. */
    private record Run(long firstRow, int count, int length, INDArray probs) { }

    public AttentionCore(int heads, boolean causal) {
        this(heads, causal, 0);
    }

    /** @param window causal only: keys a query sees (itself and window − 1 before it), or 0 for all earlier keys */
    public AttentionCore(int heads, boolean causal, int window) {
        if (window < 0 || window > 0 && !causal) throw new IllegalArgumentException("a sliding window (" + window + ") needs causal attention");
        this.heads = heads;
        this.causal = causal;
        this.window = window;
    }

    /** The first key query i sees. */
    private int firstKey(int query) {
        return window > 0 ? Math.max(0, query - window + 1) : 0;
    }

    /** q, k, v [N, d] for the sequences that {@code starts} delimits → ctx [N, d]. */
    public INDArray forward(INDArray q, INDArray k, INDArray v, int[] starts) {
        long d = q.columns();
        if (d % heads != 0) throw new IllegalArgumentException("hidden size " + d + " is not divisible by " + heads + " heads");
        if (q.rows() != starts[starts.length - 1]) throw new IllegalArgumentException(q.rows() + " rows for sequences of " + starts[starts.length - 1] + " tokens");
        this.q = q;
        this.k = k;
        this.v = v;
        scale = 1.0 / Math.sqrt((double) d / heads);
        kernels = VectorKernels.rowsContiguous(q) && VectorKernels.rowsContiguous(k) && VectorKernels.rowsContiguous(v);
        runs.clear();
        INDArray ctx = Nd4j.createUninitialized(q.dataType(), q.rows(), d);
        for (int s = 0; s < starts.length - 1; ) {
            int length = starts[s + 1] - starts[s], count = 1;
            while (s + count < starts.length - 1 && starts[s + count + 1] - starts[s + count] == length) count++;
            Run run = new Run(starts[s], count, length, Nd4j.createUninitialized(q.dataType(), count, heads, length, length));
            if (kernels) forwardKernel(run, ctx);
            else forwardReference(run, ctx);
            runs.add(run);
            s += count;
        }
        return ctx;
    }

    /**
     * One decoding step: query row r [B, H·hd] of sequence {@code sequences[r]}, whose newest token is the cache's last
     * row, attends to that sequence's cached keys and values (within the sliding window) → ctx [B, H·hd]. Query head h
     * reads key/value head h / (H / kvHeads), as {@link GroupedQueryAttention} repeats them; causal by construction.
     */
    public INDArray decode(INDArray q, int[] sequences, KeyValueCache cache) {
        int hd = (int) q.columns() / heads, kvHeads = cache.width() / hd, groups = heads / kvHeads;
        double[] qs = q.dup('c').reshape(q.length()).toDoubleVector(), ctx = new double[qs.length];
        double scale = 1.0 / Math.sqrt(hd);
        for (int r = 0; r < sequences.length; r++) {
            int s = sequences[r], length = cache.length(s), first = window > 0 ? Math.max(0, length - window) : 0, width = cache.width();
            double[] keys = cache.keys(s), values = cache.values(s), p = new double[length];
            for (int h = 0; h < heads; h++) {
                int qAt = r * heads * hd + h * hd, kvAt = h / groups * hd;
                double max = Double.NEGATIVE_INFINITY, sum = 0;
                for (int j = first; j < length; j++) {
                    double dot = 0;
                    for (int i = 0; i < hd; i++) dot += qs[qAt + i] * keys[j * width + kvAt + i];
                    p[j] = dot * scale;
                    max = Math.max(max, p[j]);
                }
                for (int j = first; j < length; j++) sum += p[j] = Math.exp(p[j] - max);
                for (int j = first; j < length; j++) {
                    double weight = p[j] / sum;
                    for (int i = 0; i < hd; i++) ctx[qAt + i] += weight * values[j * width + kvAt + i];
                }
            }
        }
        return org.nd4j.linalg.factory.Nd4j.createFromArray(ctx).reshape('c', q.rows(), q.columns()).castTo(q.dataType());
    }

    /** dctx [N, d] → {dq, dk, dv}, each [N, d]. */
    public INDArray[] backward(INDArray dctx) {
        INDArray dq = dctx.ulike(), dk = dctx.ulike(), dv = dctx.ulike();
        boolean fast = kernels && VectorKernels.rowsContiguous(dctx);
        for (Run run : runs) {
            if (fast) backwardKernel(run, dctx, dq, dk, dv);
            else backwardReference(run, dctx, dq, dk, dv);
        }
        return new INDArray[] {dq, dk, dv};
    }

    private void forwardReference(Run run, INDArray ctx) {
        INDArray scores = run.probs.ulike();
        Nd4j.matmul(splitHeads(q, run), splitHeads(k, run), scores, false, true, false);
        scores.muli(scale);
        if (causal) HeldOps.apply(HeldOps.Op.ADD, scores, causalBias(q, run.length), scores, 2, 3);
        Nd4j.exec(new SoftMax(scores, run.probs, 3));
        INDArray vh = splitHeads(v, run), ctxh = vh.ulike();
        Nd4j.matmul(run.probs, vh, ctxh, false, false, false);
        mergeHeads(ctxh, ctx, run.firstRow);
    }

    private void backwardReference(Run run, INDArray dctx, INDArray dq, INDArray dk, INDArray dv) {
        INDArray qh = splitHeads(q, run), kh = splitHeads(k, run), vh = splitHeads(v, run), dctxh = splitHeads(dctx, run);
        INDArray dprobs = run.probs.ulike();
        Nd4j.matmul(dctxh, vh, dprobs, false, true, false);
        INDArray dvh = vh.ulike();
        Nd4j.matmul(run.probs, dctxh, dvh, true, false, false);
        // softmax backward: ds = p ⊙ (dp − Σ_j dp_j p_j), then the 1/√d_head of the scores
        INDArray rowDot = HeldOps.sum(dprobs.mul(run.probs), 3);
        HeldOps.apply(HeldOps.Op.SUB, dprobs, rowDot, dprobs, 0, 1, 2);
        INDArray dscores = dprobs.muli(run.probs).muli(scale);
        INDArray dqh = qh.ulike();
        Nd4j.matmul(dscores, kh, dqh, false, false, false);
        INDArray dkh = kh.ulike();
        Nd4j.matmul(dscores, qh, dkh, true, false, false);
        mergeHeads(dqh, dq, run.firstRow);
        mergeHeads(dkh, dk, run.firstRow);
        mergeHeads(dvh, dv, run.firstRow);
    }

    /** The run's rows of x [N, d] → [count, H, length, dh]. */
    private INDArray splitHeads(INDArray x, Run run) {
        return rows(x, run.firstRow, (long) run.count * run.length).reshape('c', run.count, run.length, heads, x.columns() / heads)
                .permute(0, 2, 1, 3).dup('c');
    }

    /** [count, H, length, dh] → rows [firstRow, firstRow + count·length) of out [N, d]. */
    private static void mergeHeads(INDArray x, INDArray out, long firstRow) {
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

    private INDArray causalBias(INDArray like, int length) { // [L, L], −1e9 where key > query or before the window
        INDArray bias = Nd4j.create(like.dataType(), length, length);
        for (int query = 0; query < length; query++) {
            if (query < length - 1) bias.get(NDArrayIndex.point(query), NDArrayIndex.interval(query + 1, length)).assign(MASKED);
            if (firstKey(query) > 0) bias.get(NDArrayIndex.point(query), NDArrayIndex.interval(0, firstKey(query))).assign(MASKED);
        }
        return bias;
    }

    // The float32 path (VectorKernels): the formulas above, one (sequence, head) at a time on heap copies of its rows.

    /** forwardReference for one run: per (sequence, head), s = q·kᵀ, p = softmax(scale·s) into probs, ctx = p·v into ctx's rows. */
    private void forwardKernel(Run run, INDArray ctx) {
        try {
            int length = run.length, dh = (int) q.columns() / heads;
            FloatBuffer fq = floats(q), fk = floats(k), fv = floats(v), fp = floats(run.probs), fc = floats(ctx);
            long qStride = q.stride(0), kStride = k.stride(0), vStride = v.stride(0), ctxStride = ctx.stride(0);
            float sc = (float) scale;
            parallel(run.count * heads, (first, end) -> {
                float[] qa = new float[length * dh], ka = new float[length * dh], kt = new float[dh * length], va = new float[length * dh];
                float[] p = new float[length * length], out = new float[length * dh], scratch = new float[S.length()];
                for (int unit = first; unit < end; unit++) {
                    long row = run.firstRow + (long) (unit / heads) * length;
                    int column = unit % heads * dh;
                    readHead(fq, qStride, row, column, length, dh, qa);
                    readHead(fk, kStride, row, column, length, dh, ka);
                    readHead(fv, vStride, row, column, length, dh, va);
                    transpose(ka, length, dh, kt);
                    matmul(qa, dh, 1, kt, p, length, length, dh, causal ? Triangle.COLUMNS_TO_ROW : Triangle.FULL);
                    for (int i = 0; i < length; i++) softmaxRow(p, i * length, firstKey(i), causal ? i + 1 : length, length, sc, scratch);
                    fp.put(Math.toIntExact((long) unit * length * length), p, 0, p.length);
                    matmul(p, length, 1, va, out, length, dh, length, causal ? Triangle.DEPTH_TO_ROW : Triangle.FULL);
                    writeHead(fc, ctxStride, row, column, length, dh, out);
                }
            });
        } finally {
            Reference.reachabilityFence(q);
            Reference.reachabilityFence(k);
            Reference.reachabilityFence(v);
            Reference.reachabilityFence(run.probs);
            Reference.reachabilityFence(ctx);
        }
    }

    /** backwardReference for one run, per (sequence, head): dp = dctx·vᵀ, dv = pᵀ·dctx, ds = scale·p ⊙ (dp − Σ p·dp), dq = ds·k, dk = dsᵀ·q. */
    private void backwardKernel(Run run, INDArray dctx, INDArray dq, INDArray dk, INDArray dv) {
        try {
            int length = run.length, dh = (int) q.columns() / heads;
            FloatBuffer fq = floats(q), fk = floats(k), fv = floats(v), fp = floats(run.probs), fd = floats(dctx);
            FloatBuffer fdq = floats(dq), fdk = floats(dk), fdv = floats(dv);
            long qStride = q.stride(0), kStride = k.stride(0), vStride = v.stride(0), dStride = dctx.stride(0), gradStride = dq.stride(0); // dq, dk, dv alike
            float sc = (float) scale;
            parallel(run.count * heads, (first, end) -> {
                float[] qa = new float[length * dh], ka = new float[length * dh], va = new float[length * dh], vt = new float[dh * length];
                float[] dc = new float[length * dh], p = new float[length * length], dp = new float[length * length];
                float[] grad = new float[length * dh], scratch = new float[S.length()];
                for (int unit = first; unit < end; unit++) {
                    long row = run.firstRow + (long) (unit / heads) * length;
                    int column = unit % heads * dh;
                    readHead(fq, qStride, row, column, length, dh, qa);
                    readHead(fk, kStride, row, column, length, dh, ka);
                    readHead(fv, vStride, row, column, length, dh, va);
                    readHead(fd, dStride, row, column, length, dh, dc);
                    fp.get(Math.toIntExact((long) unit * length * length), p, 0, p.length);
                    transpose(va, length, dh, vt);
                    matmul(dc, dh, 1, vt, dp, length, length, dh, causal ? Triangle.COLUMNS_TO_ROW : Triangle.FULL);
                    matmul(p, 1, length, dc, grad, length, dh, length, causal ? Triangle.DEPTH_FROM_ROW : Triangle.FULL);
                    writeHead(fdv, gradStride, row, column, length, dh, grad);
                    for (int i = 0; i < length; i++) softmaxBackwardRow(p, dp, i * length, causal ? i + 1 : length, length, sc, scratch);
                    matmul(dp, length, 1, ka, grad, length, dh, length, causal ? Triangle.DEPTH_TO_ROW : Triangle.FULL);
                    writeHead(fdq, gradStride, row, column, length, dh, grad);
                    matmul(dp, 1, length, qa, grad, length, dh, length, causal ? Triangle.DEPTH_FROM_ROW : Triangle.FULL);
                    writeHead(fdk, gradStride, row, column, length, dh, grad);
                }
            });
        } finally {
            Reference.reachabilityFence(q);
            Reference.reachabilityFence(k);
            Reference.reachabilityFence(v);
            Reference.reachabilityFence(run.probs);
            Reference.reachabilityFence(dctx);
            Reference.reachabilityFence(dq);
            Reference.reachabilityFence(dk);
            Reference.reachabilityFence(dv);
        }
    }

    /** Columns [column, column + dh) of rows [row, row + length) of a matrix with the given row stride → out [length, dh]. */
    private static void readHead(FloatBuffer x, long rowStride, long row, int column, int length, int dh, float[] out) {
        for (int t = 0; t < length; t++) x.get(Math.toIntExact((row + t) * rowStride + column), out, t * dh, dh);
    }

    /** The inverse of {@link #readHead}: head [length, dh] into its columns of rows [row, row + length). */
    private static void writeHead(FloatBuffer x, long rowStride, long row, int column, int length, int dh, float[] head) {
        for (int t = 0; t < length; t++) x.put(Math.toIntExact((row + t) * rowStride + column), head, t * dh, dh);
    }

    private static void transpose(float[] a, int rows, int columns, float[] out) {
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < columns; j++) out[j * rows + i] = a[i * columns + j];
        }
    }

    /**
     * Which part of a causal attention product is needed: all of it, or — since a query's row of probabilities is 0
     * after its own position — result columns up to the row (scores q·kᵀ, dp = dctx·vᵀ), the depth up to the row
     * (p·v, ds·k), or the depth from the row on (pᵀ·dctx, dsᵀ·q, whose row is a key). A block of rows computes
     * what its last (or first) row needs; the terms it skips are products with exact zeros, so results are the
     * full product's, bit for bit; skipped result columns are left as they were.
     */
    enum Triangle { FULL, COLUMNS_TO_ROW, DEPTH_TO_ROW, DEPTH_FROM_ROW }

    /**
     * c [m, n] = a·b for b [depth, n] (row-major) and a read as a[i·aRow + k·aCol]: aRow = depth, aCol = 1 for
     * a [m, depth]; aRow = 1, aCol = m for aᵀ with a [depth, m]. Blocks of 4 rows × 2 vectors keep their
     * sums in registers; every element, in any block, is the fma chain over k = 0, 1, …, so results do not
     * depend on the blocking or the thread split.
     */
    static void matmul(float[] a, int aRow, int aCol, float[] b, float[] c, int m, int n, int depth) {
        matmul(a, aRow, aCol, b, c, m, n, depth, Triangle.FULL);
    }

    static void matmul(float[] a, int aRow, int aCol, float[] b, float[] c, int m, int n, int depth, Triangle part) {
        int lanes = S.length(), j = 0;
        for (; j + 2 * lanes <= n; j += 2 * lanes) {
            int i = 0;
            for (; i + 4 <= m; i += 4) {
                if (part != Triangle.COLUMNS_TO_ROW || j <= i + 3) fourRowsTwoVectors(a, aRow, aCol, b, c, i, j, n, from(part, i), to(part, i + 4, depth));
            }
            for (; i < m; i++) {
                if (part == Triangle.COLUMNS_TO_ROW && j > i) continue;
                oneRowOneVector(a, aRow, aCol, b, c, i, j, n, from(part, i), to(part, i + 1, depth));
                oneRowOneVector(a, aRow, aCol, b, c, i, j + lanes, n, from(part, i), to(part, i + 1, depth));
            }
        }
        for (; j + lanes <= n; j += lanes) {
            for (int i = 0; i < m; i++) {
                if (part != Triangle.COLUMNS_TO_ROW || j <= i) oneRowOneVector(a, aRow, aCol, b, c, i, j, n, from(part, i), to(part, i + 1, depth));
            }
        }
        for (; j < n; j++) {
            for (int i = 0; i < m; i++) {
                if (part == Triangle.COLUMNS_TO_ROW && j > i) continue;
                float sum = 0;
                int k0 = from(part, i);
                for (int kk = k0, ak = i * aRow + k0 * aCol, bk = j + k0 * n, end = to(part, i + 1, depth); kk < end; kk++, ak += aCol, bk += n) {
                    sum = Math.fma(a[ak], b[bk], sum);
                }
                c[i * n + j] = sum;
            }
        }
    }

    /** The first depth term rows from {@code row} on need. */
    private static int from(Triangle part, int row) {
        return part == Triangle.DEPTH_FROM_ROW ? row : 0;
    }

    /** The end of the depth terms rows before {@code rowEnd} need. */
    private static int to(Triangle part, int rowEnd, int depth) {
        return part == Triangle.DEPTH_TO_ROW ? Math.min(rowEnd, depth) : depth;
    }

    // Each block is its own small method: C2 then inlines every vector operation (one large method left some
    // of them as calls on boxed vectors, measured ~10× slower).

    private static void fourRowsTwoVectors(float[] a, int aRow, int aCol, float[] b, float[] c, int i, int j, int n, int kFrom, int kTo) {
        int lanes = S.length();
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
        int a0 = i * aRow, a1 = a0 + aRow, a2 = a1 + aRow, a3 = a2 + aRow;
        for (int kk = kFrom, ak = kFrom * aCol, bk = j + kFrom * n; kk < kTo; kk++, ak += aCol, bk += n) {
            FloatVector b0 = FloatVector.fromArray(S, b, bk), b1 = FloatVector.fromArray(S, b, bk + lanes);
            FloatVector x = FloatVector.broadcast(S, a[a0 + ak]);
            c00 = x.fma(b0, c00);
            c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(S, a[a1 + ak]);
            c10 = x.fma(b0, c10);
            c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(S, a[a2 + ak]);
            c20 = x.fma(b0, c20);
            c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(S, a[a3 + ak]);
            c30 = x.fma(b0, c30);
            c31 = x.fma(b1, c31);
        }
        c00.intoArray(c, i * n + j);
        c01.intoArray(c, i * n + j + lanes);
        c10.intoArray(c, (i + 1) * n + j);
        c11.intoArray(c, (i + 1) * n + j + lanes);
        c20.intoArray(c, (i + 2) * n + j);
        c21.intoArray(c, (i + 2) * n + j + lanes);
        c30.intoArray(c, (i + 3) * n + j);
        c31.intoArray(c, (i + 3) * n + j + lanes);
    }

    private static void oneRowOneVector(float[] a, int aRow, int aCol, float[] b, float[] c, int i, int j, int n, int kFrom, int kTo) {
        FloatVector sum = FloatVector.zero(S);
        for (int kk = kFrom, ak = i * aRow + kFrom * aCol, bk = j + kFrom * n; kk < kTo; kk++, ak += aCol, bk += n) {
            sum = FloatVector.broadcast(S, a[ak]).fma(FloatVector.fromArray(S, b, bk), sum);
        }
        sum.intoArray(c, i * n + j);
    }

    /**
     * Softmax of row[from, from + t) in place: p = softmax(scale·s) over its keys [first, keys), the rest (keys
     * after the query when causal, before its sliding window) set to probability 0.
     */
    private static void softmaxRow(float[] row, int from, int first, int keys, int t, float scale, float[] scratch) {
        int start = from + first, count = keys - first, bound = S.loopBound(count);
        FloatVector maxv = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        int j = 0;
        for (; j < bound; j += S.length()) {
            FloatVector v = FloatVector.fromArray(S, row, start + j).mul(scale);
            v.intoArray(row, start + j);
            maxv = maxv.max(v);
        }
        float max = maxv.reduceLanes(VectorOperators.MAX);
        for (; j < count; j++) {
            float v = scale * row[start + j];
            row[start + j] = v;
            max = Math.max(max, v);
        }
        FloatVector sumv = FloatVector.zero(S);
        for (j = 0; j < bound; j += S.length()) {
            FloatVector e = exp(FloatVector.fromArray(S, row, start + j).sub(max));
            e.intoArray(row, start + j);
            sumv = sumv.add(e);
        }
        float sum = sumLanes(sumv, scratch);
        for (; j < count; j++) {
            row[start + j] = exp(row[start + j] - max);
            sum += row[start + j];
        }
        float inv = 1 / sum;
        for (j = 0; j < bound; j += S.length()) FloatVector.fromArray(S, row, start + j).mul(inv).intoArray(row, start + j);
        for (; j < count; j++) row[start + j] *= inv;
        java.util.Arrays.fill(row, from, start, 0f);
        java.util.Arrays.fill(row, from + keys, from + t, 0f);
    }

    /**
     * Softmax backward of one row of length t, in place in d: d ← scale·p ⊙ (d − Σ_j p_j·d_j) over its first
     * {@code keys} entries (p is 0 after them, where d is set to 0: a causal row's later columns were not computed).
     */
    private static void softmaxBackwardRow(float[] p, float[] d, int from, int keys, int t, float scale, float[] scratch) {
        FloatVector acc = FloatVector.zero(S);
        int j = 0, bound = S.loopBound(keys);
        for (; j < bound; j += S.length()) {
            acc = FloatVector.fromArray(S, p, from + j).fma(FloatVector.fromArray(S, d, from + j), acc);
        }
        float dot = sumLanes(acc, scratch);
        for (int k = j; k < keys; k++) dot += p[from + k] * d[from + k];
        for (j = 0; j < bound; j += S.length()) {
            FloatVector.fromArray(S, d, from + j).sub(dot).mul(FloatVector.fromArray(S, p, from + j)).mul(scale).intoArray(d, from + j);
        }
        for (; j < keys; j++) d[from + j] = scale * p[from + j] * (d[from + j] - dot);
        java.util.Arrays.fill(d, from + keys, from + t, 0f);
    }
}
