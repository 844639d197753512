package io.lorafleet.nn;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.Shape;

import java.lang.ref.Reference;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;

/**
 * Fused float32 kernels over ND4J's off-heap buffers through the Java Vector API. Rows or chunks are
 * bulk-copied to heap arrays and the vector code runs on those. Each kernel keeps its arrays reachable
 * until it returns ({@link Reference#reachabilityFence}): the NIO view of an ND4J buffer does not hold the
 * buffer, and once compiled code no longer uses the INDArray the GC may collect it and ND4J free the
 * memory under the view (seen twice in CI as SIGSEGV in compiled attentionSoftmax).
 * ND4J M2.1 evaluates exp, erf and tanh one scalar at a time (5–10 ns an element, measured); SIMD
 * exp and tanh take ~1 ns, and fusing a layer's elementwise steps into one pass
 * saves the memory traffic of the intermediate arrays.
 *
 * <p>These kernels are the float32 fast path. Each caller keeps the same formula written with plain ND4J
 * ops, which is what runs in float64 — where the finite-difference gradient checks run — and what the
 * kernels are tested against.
 *
 * <p>Results are bit-reproducible: the JDK's vector EXP/TANH and floating-point {@code reduceLanes(ADD)}
 * may round differently in the interpreter and in compiled code (measured: a training run and its
 * replay in one JVM differed in the 7th digit). So exp is our own (Cody–Waite reduction and a Cephes
 * polynomial, built from add, multiply and fma, which IEEE 754 defines exactly), tanh is derived from it,
 * and sums of lanes run in a fixed order. Data-parallel training relies on this: a retried task must
 * return the same bits.
 */
final class VectorKernels {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();
    private static final boolean PRESENT = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();

    private VectorKernels() { }

    private static final float LOG2E = 1.44269504088896341f, LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;
    private static final float E1 = 1.9875691500e-4f, E2 = 1.3981999507e-3f, E3 = 8.3334519073e-3f, E4 = 4.1665795894e-2f,
            E5 = 1.6666665459e-1f, E6 = 5.0000001201e-1f;
    /**
     * exp is evaluated on [−87, 88], where 2ⁿ stays a normal float; below −87 it is exactly 0. Results under
     * 1.7e-38 are irrelevant here, and a subnormal instead of 0 is ruinous: far-off attention scores then get
     * subnormal probabilities, and every gemm they reach runs ~8× slower (measured when padding keys were
     * masked with a −1e9 bias).
     */
    private static final float EXP_LO = -87f, EXP_HI = 88f;
    /** 1.5·2²³: adding it rounds to an integer held in the low mantissa bits (no float→int conversion needed). */
    private static final float ROUNDER = 12582912f;
    private static final int ROUNDER_BITS = Float.floatToRawIntBits(ROUNDER);

    /** e^x per lane: x = n·ln2 + r, |r| ≤ ln2/2; e^r by a degree-7 polynomial; 2ⁿ by exponent bits. */
    static FloatVector exp(FloatVector x) {
        VectorMask<Float> underflow = x.lt(EXP_LO);
        x = x.max(EXP_LO).min(EXP_HI);
        FloatVector m = x.mul(LOG2E).add(ROUNDER);
        FloatVector n = m.sub(ROUNDER);
        IntVector ni = (IntVector) m.reinterpretAsInts();
        FloatVector r = n.fma(FloatVector.broadcast(S, -LN2_HI), x);
        r = n.fma(FloatVector.broadcast(S, -LN2_LO), r);
        FloatVector p = r.fma(FloatVector.broadcast(S, E1), FloatVector.broadcast(S, E2));
        p = p.fma(r, FloatVector.broadcast(S, E3));
        p = p.fma(r, FloatVector.broadcast(S, E4));
        p = p.fma(r, FloatVector.broadcast(S, E5));
        p = p.fma(r, FloatVector.broadcast(S, E6));
        FloatVector er = p.mul(r).fma(r, r).add(1f); // 1 + r + r²·p
        IntVector bits = ni.sub(ROUNDER_BITS - 127).lanewise(VectorOperators.LSHL, 23);
        return er.mul(bits.reinterpretAsFloats()).blend(0f, underflow);
    }

    /** The same e^x for one float, operation for operation. */
    static float exp(float x) {
        if (x < EXP_LO) return 0f;
        x = Math.min(Math.max(x, EXP_LO), EXP_HI);
        float m = x * LOG2E + ROUNDER;
        float n = m - ROUNDER;
        int ni = Float.floatToRawIntBits(m);
        float r = Math.fma(n, -LN2_HI, x);
        r = Math.fma(n, -LN2_LO, r);
        float p = Math.fma(r, E1, E2);
        p = Math.fma(p, r, E3);
        p = Math.fma(p, r, E4);
        p = Math.fma(p, r, E5);
        p = Math.fma(p, r, E6);
        float er = Math.fma(p * r, r, r) + 1f;
        return er * Float.intBitsToFloat((ni - (ROUNDER_BITS - 127)) << 23);
    }

    /** tanh(u) = sign(u)·(1 − 2/(e^{2|u|} + 1)). */
    static FloatVector tanh(FloatVector u) {
        FloatVector a = exp(u.abs().mul(2f)).add(1f);
        FloatVector t = FloatVector.broadcast(S, 1f).sub(FloatVector.broadcast(S, 2f).div(a));
        return t.blend(t.neg(), u.lt(0f));
    }

    static float tanh(float u) {
        float t = 1f - 2f / (exp(Math.abs(u) * 2f) + 1f);
        return u < 0 ? -t : t;
    }

    /** Σ of the lanes, left to right (reduceLanes(ADD) leaves the order open). */
    private static float sumLanes(FloatVector v, float[] scratch) {
        v.intoArray(scratch, 0);
        float sum = 0;
        for (int i = 0; i < S.length(); i++) sum += scratch[i];
        return sum;
    }

    /**
     * Threads the kernels split their rows over: OMP_NUM_THREADS, the budget ND4J's own ops get (1 in a Spark
     * task, where the kernels run inline on the task's thread). Every row or element is computed the same way
     * whatever the split, so results do not depend on the thread count (tested).
     */
    private static volatile int threads = threadsFromEnvironment();
    private static ForkJoinPool pool;

    private static int threadsFromEnvironment() {
        try {
            return Math.max(1, Integer.parseInt(System.getenv().getOrDefault("OMP_NUM_THREADS", "1").trim()));
        } catch (NumberFormatException e) {
            return 1;
        }
    }

    /** Sets the kernels' thread count (tests compare splits). */
    static void useThreads(int n) {
        threads = Math.max(1, n);
    }

    private interface Range {
        void run(int from, int to);
    }

    /** Runs body over [0, n) in contiguous parts, one per thread; the calling thread takes the first. */
    private static void parallel(int n, Range body) {
        int parts = Math.min(threads, n);
        if (parts <= 1) {
            body.run(0, n);
            return;
        }
        ForkJoinPool workers = pool(parts - 1);
        List<ForkJoinTask<?>> rest = new ArrayList<>();
        for (int i = 1; i < parts; i++) {
            int from = (int) ((long) n * i / parts), to = (int) ((long) n * (i + 1) / parts);
            rest.add(workers.submit(() -> body.run(from, to)));
        }
        body.run(0, n / parts);
        rest.forEach(ForkJoinTask::join);
    }

    private static synchronized ForkJoinPool pool(int workers) {
        if (pool == null || pool.getParallelism() < workers) pool = new ForkJoinPool(workers);
        return pool;
    }

    /** True when every array is float32, in C order and contiguous, and the JVM has the vector module. */
    static boolean applicable(INDArray... arrays) {
        if (!PRESENT) return false;
        for (INDArray a : arrays) {
            if (a.dataType() != DataType.FLOAT || a.ordering() != 'c' || !Shape.hasDefaultStridesForShape(a)) return false;
        }
        return true;
    }

    /** The array's float32 buffer, positioned at its first element; bulk reads and writes copy rows in and out. */
    private static FloatBuffer floats(INDArray a) {
        FloatBuffer f = a.data().asNio().order(ORDER).asFloatBuffer();
        return f.position(Math.toIntExact(a.offset())).slice();
    }

    // Abramowitz & Stegun 7.1.26: erf(u) = 1 − t·(a1 + t·(a2 + t·(a3 + t·(a4 + t·a5))))·exp(−u²), t = 1/(1 + p·u),
    // u ≥ 0, absolute error ≤ 1.5e-7 — float32's own resolution near 1. Its exp(−u²) at u = x/√2 is also
    // what φ(x) needs, so one exp serves both.
    private static final float P = 0.3275911f, A1 = 0.254829592f, A2 = -0.284496736f, A3 = 1.421413741f,
            A4 = -1.453152027f, A5 = 1.061405429f;
    /** Elementwise kernels work through heap chunks of this many floats (bulk copies in and out). */
    private static final int CHUNK = 4096;

    /** One chunk of an elementwise kernel: from xs[0, len) writes ys and ss. */
    private interface Chunk {
        void apply(float[] xs, float[] ys, float[] ss, int len);
    }

    /** Runs an elementwise kernel x → (y, slope) over heap chunks: bulk copies in and out, split over threads. */
    private static void elementwise(INDArray x, INDArray y, INDArray slope, Chunk chunk) {
        try {
            FloatBuffer fx = floats(x), fy = floats(y), fs = floats(slope);
            parallel(Math.toIntExact(x.length()), (first, end) -> {
                float[] xs = new float[CHUNK], ys = new float[CHUNK], ss = new float[CHUNK];
                for (int from = first; from < end; from += CHUNK) {
                    int len = Math.min(CHUNK, end - from);
                    fx.get(from, xs, 0, len);
                    chunk.apply(xs, ys, ss, len);
                    fy.put(from, ys, 0, len);
                    fs.put(from, ss, 0, len);
                }
            });
        } finally {
            Reference.reachabilityFence(x);
            Reference.reachabilityFence(y);
            Reference.reachabilityFence(slope);
        }
    }

    /** GELU, exact form: writes y = x·Φ(x) and slope = dy/dx = Φ(x) + x·φ(x), φ(x) = exp(−x²/2)/√(2π). */
    static void geluErf(INDArray x, INDArray y, INDArray slope) {
        float invSqrt2 = (float) (1 / Math.sqrt(2)), invSqrt2Pi = (float) (1 / Math.sqrt(2 * Math.PI));
        elementwise(x, y, slope, (xs, ys, ss, len) -> {
            int i = 0;
            for (int bound = S.loopBound(len); i < bound; i += S.length()) {
                FloatVector xv = FloatVector.fromArray(S, xs, i);
                FloatVector g = exp(xv.mul(xv).mul(-0.5f));                                       // exp(−x²/2)
                FloatVector t = FloatVector.broadcast(S, 1f).div(xv.abs().mul(invSqrt2 * P).add(1f));
                FloatVector poly = t.mul(A5).add(A4).mul(t).add(A3).mul(t).add(A2).mul(t).add(A1).mul(t);
                FloatVector erfAbs = poly.mul(g).neg().add(1f);
                FloatVector erf = erfAbs.blend(erfAbs.neg(), xv.lt(0f));
                FloatVector cdf = erf.add(1f).mul(0.5f);
                xv.mul(cdf).intoArray(ys, i);
                xv.mul(g).mul(invSqrt2Pi).add(cdf).intoArray(ss, i);
            }
            for (; i < len; i++) {
                float xi = xs[i];
                float g = exp(xi * xi * -0.5f);
                float t = 1f / (1f + P * Math.abs(xi) * invSqrt2);
                float erfAbs = 1f - t * (A1 + t * (A2 + t * (A3 + t * (A4 + t * A5)))) * g;
                float cdf = 0.5f * (1 + Math.copySign(erfAbs, xi));
                ys[i] = xi * cdf;
                ss[i] = cdf + xi * g * invSqrt2Pi;
            }
        });
    }

    /**
     * GELU, tanh form: with u = √(2/π)(x + c·x³) and t = tanh(u), writes y = x·(1+t)/2 and
     * slope = (1+t)/2 + x·(1−t²)/2·√(2/π)(1 + 3c·x²).
     */
    static void geluTanh(INDArray x, INDArray y, INDArray slope, double c) {
        float k = (float) Math.sqrt(2 / Math.PI), cf = (float) c;
        elementwise(x, y, slope, (xs, ys, ss, len) -> {
            int i = 0;
            for (int bound = S.loopBound(len); i < bound; i += S.length()) {
                FloatVector xv = FloatVector.fromArray(S, xs, i);
                FloatVector x2 = xv.mul(xv);
                FloatVector t = tanh(x2.mul(cf).add(1f).mul(xv).mul(k));
                FloatVector half = t.add(1f).mul(0.5f);
                xv.mul(half).intoArray(ys, i);
                FloatVector du = x2.mul(3 * cf).add(1f).mul(k);
                t.mul(t).neg().add(1f).mul(0.5f).mul(xv).fma(du, half).intoArray(ss, i);
            }
            for (; i < len; i++) {
                float xi = xs[i];
                float t = tanh((xi * xi * cf + 1f) * xi * k);
                float half = 0.5f * (1 + t);
                ys[i] = xi * half;
                ss[i] = Math.fma((1 - t * t) * 0.5f * xi, (xi * xi * (3 * cf) + 1f) * k, half);
            }
        });
    }

    /**
     * Row softmax of attention scores [B, H, T, T], in place: p = softmax(scale·s) over each row's keys, with
     * keys after the query cut off (probability 0) when causal. Each row is read whole before it is written.
     */
    static void attentionSoftmax(INDArray scores, double scale, boolean causal) {
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

    /** True when a is a float32 matrix whose rows are contiguous (unit column stride; rows may be spaced, as in a column view). */
    static boolean rowsContiguous(INDArray a) {
        return PRESENT && a.dataType() == DataType.FLOAT && a.rank() == 2 && a.stride(1) == 1;
    }

    /**
     * Rows [firstRow, firstRow + count·L) of x [N, H·dh] → heads [count, H, L, dh] (C order). One bulk read
     * per row and one bulk write per sequence; ND4J's permute + dup of the same copy ran ~5× slower.
     */
    static void splitHeads(INDArray x, long firstRow, INDArray heads) {
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

    /** The inverse of {@link #splitHeads}: heads [count, H, L, dh] → rows [firstRow, firstRow + count·L) of out [N, H·dh]. */
    static void mergeHeads(INDArray heads, INDArray out, long firstRow) {
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

    /** Softmax backward over rows of length T, in place: dprobs ← scale·p ⊙ (dp − Σ_j p_j·dp_j). */
    static void softmaxBackward(INDArray probs, INDArray dprobs, double scale) {
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

    /** LayerNorm over rows of x [N, d]: writes xhat = (x − mean)·rstd, rstd [N] and y = xhat·gamma + beta. */
    static void layerNormForward(INDArray x, INDArray gamma, INDArray beta, double eps, INDArray xhat, INDArray rstd, INDArray y) {
        try {
            int n = (int) x.size(0), d = (int) x.size(1);
            FloatBuffer fx = floats(x), fh = floats(xhat), fr = floats(rstd), fy = floats(y);
            float[] g = new float[d], bt = new float[d];
            floats(gamma).get(0, g, 0, d);
            floats(beta).get(0, bt, 0, d);
            int bound = S.loopBound(d);
            parallel(n, (first, end) -> {
                float[] row = new float[d], h = new float[d], out = new float[d], scratch = new float[S.length()];
                for (int r = first; r < end; r++) {
                    fx.get(r * d, row, 0, d);
                    FloatVector acc = FloatVector.zero(S);
                    int j = 0;
                    for (; j < bound; j += S.length()) acc = acc.add(FloatVector.fromArray(S, row, j));
                    float sum = sumLanes(acc, scratch);
                    for (; j < d; j++) sum += row[j];
                    float mean = sum / d;
                    acc = FloatVector.zero(S);
                    for (j = 0; j < bound; j += S.length()) {
                        FloatVector c = FloatVector.fromArray(S, row, j).sub(mean);
                        acc = c.fma(c, acc);
                    }
                    float sq = sumLanes(acc, scratch);
                    for (; j < d; j++) {
                        float c = row[j] - mean;
                        sq += c * c;
                    }
                    float rs = (float) (1 / Math.sqrt(sq / d + eps));
                    fr.put(r, rs);
                    for (j = 0; j < bound; j += S.length()) {
                        FloatVector hv = FloatVector.fromArray(S, row, j).sub(mean).mul(rs);
                        hv.intoArray(h, j);
                        hv.fma(FloatVector.fromArray(S, g, j), FloatVector.fromArray(S, bt, j)).intoArray(out, j);
                    }
                    for (; j < d; j++) {
                        h[j] = (row[j] - mean) * rs;
                        out[j] = Math.fma(h[j], g[j], bt[j]);
                    }
                    fh.put(r * d, h, 0, d);
                    fy.put(r * d, out, 0, d);
                }
            });
        } finally {
            Reference.reachabilityFence(x);
            Reference.reachabilityFence(gamma);
            Reference.reachabilityFence(beta);
            Reference.reachabilityFence(xhat);
            Reference.reachabilityFence(rstd);
            Reference.reachabilityFence(y);
        }
    }

    /**
     * LayerNorm backward: dx = rstd·(dxhat − mean(dxhat) − xhat·mean(dxhat·xhat)) with dxhat = dy·gamma;
     * adds Σ dy·xhat into dgamma and Σ dy into dbeta when those are not null.
     */
    static void layerNormBackward(INDArray dy, INDArray xhat, INDArray rstd, INDArray gamma, INDArray dx, INDArray dgamma, INDArray dbeta) {
        try {
            int n = (int) dy.size(0), d = (int) dy.size(1);
            FloatBuffer fd = floats(dy), fh = floats(xhat), fr = floats(rstd), fx = floats(dx);
            float[] g = new float[d];
            floats(gamma).get(0, g, 0, d);
            int bound = S.loopBound(d);
            parallel(n, (first, end) -> {
                float[] dyRow = new float[d], h = new float[d], out = new float[d], scratch = new float[S.length()];
                for (int r = first; r < end; r++) {
                    fd.get(r * d, dyRow, 0, d);
                    fh.get(r * d, h, 0, d);
                    FloatVector accG = FloatVector.zero(S), accGH = FloatVector.zero(S);
                    int j = 0;
                    for (; j < bound; j += S.length()) {
                        FloatVector gv = FloatVector.fromArray(S, dyRow, j).mul(FloatVector.fromArray(S, g, j));
                        accG = accG.add(gv);
                        accGH = gv.fma(FloatVector.fromArray(S, h, j), accGH);
                    }
                    float sumG = sumLanes(accG, scratch), sumGH = sumLanes(accGH, scratch);
                    for (; j < d; j++) {
                        float gj = dyRow[j] * g[j];
                        sumG += gj;
                        sumGH += gj * h[j];
                    }
                    float meanG = sumG / d, meanGH = sumGH / d, rs = fr.get(r);
                    for (j = 0; j < bound; j += S.length()) {
                        FloatVector hv = FloatVector.fromArray(S, h, j);
                        FloatVector gv = FloatVector.fromArray(S, dyRow, j).mul(FloatVector.fromArray(S, g, j));
                        gv.sub(meanG).sub(hv.mul(meanGH)).mul(rs).intoArray(out, j);
                    }
                    for (; j < d; j++) out[j] = rs * (dyRow[j] * g[j] - meanG - h[j] * meanGH);
                    fx.put(r * d, out, 0, d);
                }
            });
            if (dgamma == null && dbeta == null) return;
            // the parameter gradients sum over rows: one thread, in row order, so the sum does not depend on the split
            float[] dGamma = dgamma == null ? null : new float[d], dBeta = dbeta == null ? null : new float[d];
            float[] dyRow = new float[d], h = new float[d];
            for (int r = 0; r < n; r++) {
                fd.get(r * d, dyRow, 0, d);
                fh.get(r * d, h, 0, d);
                for (int j = 0; j < d; j++) {
                    if (dGamma != null) dGamma[j] += dyRow[j] * h[j];
                    if (dBeta != null) dBeta[j] += dyRow[j];
                }
            }
            if (dGamma != null) dgamma.addi(org.nd4j.linalg.factory.Nd4j.createFromArray(dGamma));
            if (dBeta != null) dbeta.addi(org.nd4j.linalg.factory.Nd4j.createFromArray(dBeta));
        } finally {
            Reference.reachabilityFence(dy);
            Reference.reachabilityFence(xhat);
            Reference.reachabilityFence(rstd);
            Reference.reachabilityFence(gamma);
            Reference.reachabilityFence(dx);
            Reference.reachabilityFence(dgamma);
            Reference.reachabilityFence(dbeta);
        }
    }
}
