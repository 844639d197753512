package io.lorafleet.nn;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.Shape;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Fused float32 kernels that read and write ND4J's off-heap buffers in place through the Java Vector API.
 * ND4J M2.1 evaluates exp, erf and tanh one scalar at a time (5–10 ns an element, measured); the JDK's
 * vector exp and tanh use SIMD intrinsics (~1 ns), and fusing a layer's elementwise steps into one pass
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
    /** exp is evaluated on [−87, 88]: 2ⁿ stays a normal float; below, results under 1.7e-38 are irrelevant here. */
    private static final float EXP_LO = -87f, EXP_HI = 88f;
    /** 1.5·2²³: adding it rounds to an integer held in the low mantissa bits (no float→int conversion needed). */
    private static final float ROUNDER = 12582912f;
    private static final int ROUNDER_BITS = Float.floatToRawIntBits(ROUNDER);

    /** e^x per lane: x = n·ln2 + r, |r| ≤ ln2/2; e^r by a degree-7 polynomial; 2ⁿ by exponent bits. */
    static FloatVector exp(FloatVector x) {
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
        return er.mul(bits.reinterpretAsFloats());
    }

    /** The same e^x for one float, operation for operation. */
    static float exp(float x) {
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

    /** True when every array is float32, in C order and contiguous, and the JVM has the vector module. */
    static boolean applicable(INDArray... arrays) {
        if (!PRESENT) return false;
        for (INDArray a : arrays) {
            if (a.dataType() != DataType.FLOAT || a.ordering() != 'c' || !Shape.hasDefaultStridesForShape(a)) return false;
        }
        return true;
    }

    private static ByteBuffer buffer(INDArray a) {
        return a.data().asNio().order(ORDER);
    }

    private static int base(INDArray a) {
        return Math.toIntExact(a.offset() * Float.BYTES);
    }

    // Abramowitz & Stegun 7.1.26: erf(u) = 1 − t·(a1 + t·(a2 + t·(a3 + t·(a4 + t·a5))))·exp(−u²), t = 1/(1 + p·u),
    // u ≥ 0, absolute error ≤ 1.5e-7 — float32's own resolution near 1. Its exp(−u²) at u = x/√2 is also
    // what φ(x) needs, so one exp serves both.
    private static final float P = 0.3275911f, A1 = 0.254829592f, A2 = -0.284496736f, A3 = 1.421413741f,
            A4 = -1.453152027f, A5 = 1.061405429f;

    /** GELU, exact form: writes y = x·Φ(x) and slope = dy/dx = Φ(x) + x·φ(x), φ(x) = exp(−x²/2)/√(2π). */
    static void geluErf(INDArray x, INDArray y, INDArray slope) {
        ByteBuffer bx = buffer(x), by = buffer(y), bs = buffer(slope);
        int ox = base(x), oy = base(y), os = base(slope);
        int n = Math.toIntExact(x.length());
        float invSqrt2 = (float) (1 / Math.sqrt(2)), invSqrt2Pi = (float) (1 / Math.sqrt(2 * Math.PI));
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += S.length()) {
            int off = i * Float.BYTES;
            FloatVector xv = FloatVector.fromByteBuffer(S, bx, ox + off, ORDER);
            FloatVector g = exp(xv.mul(xv).mul(-0.5f));                                         // exp(−x²/2)
            FloatVector t = FloatVector.broadcast(S, 1f).div(xv.abs().mul(invSqrt2 * P).add(1f));
            FloatVector poly = t.mul(A5).add(A4).mul(t).add(A3).mul(t).add(A2).mul(t).add(A1).mul(t);
            FloatVector erfAbs = poly.mul(g).neg().add(1f);
            FloatVector erf = erfAbs.blend(erfAbs.neg(), xv.lt(0f));
            FloatVector cdf = erf.add(1f).mul(0.5f);
            xv.mul(cdf).intoByteBuffer(by, oy + off, ORDER);
            xv.mul(g).mul(invSqrt2Pi).add(cdf).intoByteBuffer(bs, os + off, ORDER);
        }
        for (; i < n; i++) {
            int off = i * Float.BYTES;
            float xi = bx.getFloat(ox + off);
            float g = exp(xi * xi * -0.5f);
            float t = 1f / (1f + P * Math.abs(xi) * invSqrt2);
            float erfAbs = 1f - t * (A1 + t * (A2 + t * (A3 + t * (A4 + t * A5)))) * g;
            float cdf = 0.5f * (1 + Math.copySign(erfAbs, xi));
            by.putFloat(oy + off, xi * cdf);
            bs.putFloat(os + off, cdf + xi * g * invSqrt2Pi);
        }
    }

    /**
     * GELU, tanh form: with u = √(2/π)(x + c·x³) and t = tanh(u), writes y = x·(1+t)/2 and
     * slope = (1+t)/2 + x·(1−t²)/2·√(2/π)(1 + 3c·x²).
     */
    static void geluTanh(INDArray x, INDArray y, INDArray slope, double c) {
        ByteBuffer bx = buffer(x), by = buffer(y), bs = buffer(slope);
        int ox = base(x), oy = base(y), os = base(slope);
        int n = Math.toIntExact(x.length());
        float k = (float) Math.sqrt(2 / Math.PI), cf = (float) c;
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += S.length()) {
            int off = i * Float.BYTES;
            FloatVector xv = FloatVector.fromByteBuffer(S, bx, ox + off, ORDER);
            FloatVector x2 = xv.mul(xv);
            FloatVector t = tanh(x2.mul(cf).add(1f).mul(xv).mul(k));
            FloatVector half = t.add(1f).mul(0.5f);
            xv.mul(half).intoByteBuffer(by, oy + off, ORDER);
            FloatVector du = x2.mul(3 * cf).add(1f).mul(k);
            t.mul(t).neg().add(1f).mul(0.5f).mul(xv).fma(du, half).intoByteBuffer(bs, os + off, ORDER);
        }
        for (; i < n; i++) {
            int off = i * Float.BYTES;
            float xi = bx.getFloat(ox + off);
            float t = tanh((xi * xi * cf + 1f) * xi * k);
            float half = 0.5f * (1 + t);
            by.putFloat(oy + off, xi * half);
            bs.putFloat(os + off, half + 0.5f * xi * (1 - t * t) * k * (1 + 3 * cf * xi * xi));
        }
    }

    /**
     * Row softmax of attention scores [B, H, T, T] into probs: p = softmax(scale·s + keyBias[b]) over each
     * row's keys, with keys after the query cut off when causal. keyBias is [B, T] (0 or −1e9) or null.
     */
    static void attentionSoftmax(INDArray scores, INDArray probs, double scale, INDArray keyBias, boolean causal) {
        int batch = (int) scores.size(0), heads = (int) scores.size(1), t = (int) scores.size(2);
        ByteBuffer bs = buffer(scores), bp = buffer(probs), bb = keyBias == null ? null : buffer(keyBias);
        int os = base(scores), op = base(probs), ob = keyBias == null ? 0 : base(keyBias);
        float sc = (float) scale;
        float[] row = new float[t], scratch = new float[S.length()];
        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < heads; h++) {
                for (int q = 0; q < t; q++) {
                    int rowOffset = ((b * heads + h) * t + q) * t * Float.BYTES;
                    int keys = causal ? q + 1 : t;
                    int biasOffset = ob + b * t * Float.BYTES;
                    FloatVector maxv = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
                    int j = 0;
                    for (int bound = S.loopBound(keys); j < bound; j += S.length()) {
                        FloatVector v = FloatVector.fromByteBuffer(S, bs, os + rowOffset + j * Float.BYTES, ORDER).mul(sc);
                        if (bb != null) v = v.add(FloatVector.fromByteBuffer(S, bb, biasOffset + j * Float.BYTES, ORDER));
                        v.intoArray(row, j);
                        maxv = maxv.max(v);
                    }
                    float max = maxv.reduceLanes(VectorOperators.MAX);
                    for (; j < keys; j++) {
                        float v = sc * bs.getFloat(os + rowOffset + j * Float.BYTES);
                        if (bb != null) v += bb.getFloat(biasOffset + j * Float.BYTES);
                        row[j] = v;
                        max = Math.max(max, v);
                    }
                    float sum = 0;
                    j = 0;
                    for (int bound = S.loopBound(keys); j < bound; j += S.length()) {
                        FloatVector e = exp(FloatVector.fromArray(S, row, j).sub(max));
                        e.intoArray(row, j);
                        sum += sumLanes(e, scratch);
                    }
                    for (; j < keys; j++) {
                        row[j] = exp(row[j] - max);
                        sum += row[j];
                    }
                    float inv = 1 / sum;
                    j = 0;
                    for (int bound = S.loopBound(keys); j < bound; j += S.length()) {
                        FloatVector.fromArray(S, row, j).mul(inv).intoByteBuffer(bp, op + rowOffset + j * Float.BYTES, ORDER);
                    }
                    for (; j < keys; j++) bp.putFloat(op + rowOffset + j * Float.BYTES, row[j] * inv);
                    for (; j < t; j++) bp.putFloat(op + rowOffset + j * Float.BYTES, 0f);
                }
            }
        }
    }

    /** Softmax backward over rows of length T, in place: dprobs ← scale·p ⊙ (dp − Σ_j p_j·dp_j). */
    static void softmaxBackward(INDArray probs, INDArray dprobs, double scale) {
        int t = (int) probs.size(probs.rank() - 1);
        int rows = Math.toIntExact(probs.length() / t);
        ByteBuffer bp = buffer(probs), bd = buffer(dprobs);
        int op = base(probs), od = base(dprobs);
        float sc = (float) scale;
        float[] scratch = new float[S.length()];
        for (int r = 0; r < rows; r++) {
            int rowOffset = r * t * Float.BYTES;
            FloatVector acc = FloatVector.zero(S);
            int j = 0;
            for (int bound = S.loopBound(t); j < bound; j += S.length()) {
                int off = rowOffset + j * Float.BYTES;
                acc = FloatVector.fromByteBuffer(S, bp, op + off, ORDER).fma(FloatVector.fromByteBuffer(S, bd, od + off, ORDER), acc);
            }
            float dot = sumLanes(acc, scratch);
            for (int k = j; k < t; k++) dot += bp.getFloat(op + rowOffset + k * Float.BYTES) * bd.getFloat(od + rowOffset + k * Float.BYTES);
            for (j = 0; j < S.loopBound(t); j += S.length()) {
                int off = rowOffset + j * Float.BYTES;
                FloatVector p = FloatVector.fromByteBuffer(S, bp, op + off, ORDER);
                FloatVector d = FloatVector.fromByteBuffer(S, bd, od + off, ORDER);
                d.sub(dot).mul(p).mul(sc).intoByteBuffer(bd, od + off, ORDER);
            }
            for (; j < t; j++) {
                int off = rowOffset + j * Float.BYTES;
                bd.putFloat(od + off, sc * bp.getFloat(op + off) * (bd.getFloat(od + off) - dot));
            }
        }
    }

    /** LayerNorm over rows of x [N, d]: writes xhat = (x − mean)·rstd, rstd [N] and y = xhat·gamma + beta. */
    static void layerNormForward(INDArray x, INDArray gamma, INDArray beta, double eps, INDArray xhat, INDArray rstd, INDArray y) {
        int n = (int) x.size(0), d = (int) x.size(1);
        ByteBuffer bx = buffer(x), bg = buffer(gamma), bb = buffer(beta), bh = buffer(xhat), br = buffer(rstd), by = buffer(y);
        int ox = base(x), og = base(gamma), ob = base(beta), oh = base(xhat), or = base(rstd), oy = base(y);
        int bound = S.loopBound(d);
        float[] scratch = new float[S.length()];
        for (int r = 0; r < n; r++) {
            int row = r * d * Float.BYTES;
            FloatVector acc = FloatVector.zero(S);
            int j = 0;
            for (; j < bound; j += S.length()) acc = acc.add(FloatVector.fromByteBuffer(S, bx, ox + row + j * Float.BYTES, ORDER));
            float sum = sumLanes(acc, scratch);
            for (; j < d; j++) sum += bx.getFloat(ox + row + j * Float.BYTES);
            float mean = sum / d;
            acc = FloatVector.zero(S);
            for (j = 0; j < bound; j += S.length()) {
                FloatVector c = FloatVector.fromByteBuffer(S, bx, ox + row + j * Float.BYTES, ORDER).sub(mean);
                acc = c.fma(c, acc);
            }
            float sq = sumLanes(acc, scratch);
            for (; j < d; j++) {
                float c = bx.getFloat(ox + row + j * Float.BYTES) - mean;
                sq += c * c;
            }
            float rs = (float) (1 / Math.sqrt(sq / d + eps));
            br.putFloat(or + r * Float.BYTES, rs);
            for (j = 0; j < bound; j += S.length()) {
                int off = j * Float.BYTES;
                FloatVector h = FloatVector.fromByteBuffer(S, bx, ox + row + off, ORDER).sub(mean).mul(rs);
                h.intoByteBuffer(bh, oh + row + off, ORDER);
                h.fma(FloatVector.fromByteBuffer(S, bg, og + off, ORDER), FloatVector.fromByteBuffer(S, bb, ob + off, ORDER))
                        .intoByteBuffer(by, oy + row + off, ORDER);
            }
            for (; j < d; j++) {
                int off = j * Float.BYTES;
                float h = (bx.getFloat(ox + row + off) - mean) * rs;
                bh.putFloat(oh + row + off, h);
                by.putFloat(oy + row + off, h * bg.getFloat(og + off) + bb.getFloat(ob + off));
            }
        }
    }

    /**
     * LayerNorm backward: dx = rstd·(dxhat − mean(dxhat) − xhat·mean(dxhat·xhat)) with dxhat = dy·gamma;
     * adds Σ dy·xhat into dgamma and Σ dy into dbeta when those are not null.
     */
    static void layerNormBackward(INDArray dy, INDArray xhat, INDArray rstd, INDArray gamma, INDArray dx, INDArray dgamma, INDArray dbeta) {
        int n = (int) dy.size(0), d = (int) dy.size(1);
        ByteBuffer bd = buffer(dy), bh = buffer(xhat), br = buffer(rstd), bg = buffer(gamma), bx = buffer(dx);
        int od = base(dy), oh = base(xhat), or = base(rstd), og = base(gamma), ox = base(dx);
        float[] dGamma = dgamma == null ? null : new float[d], dBeta = dbeta == null ? null : new float[d];
        int bound = S.loopBound(d);
        float[] scratch = new float[S.length()];
        for (int r = 0; r < n; r++) {
            int row = r * d * Float.BYTES;
            FloatVector accG = FloatVector.zero(S), accGH = FloatVector.zero(S);
            int j = 0;
            for (; j < bound; j += S.length()) {
                int off = j * Float.BYTES;
                FloatVector g = FloatVector.fromByteBuffer(S, bd, od + row + off, ORDER).mul(FloatVector.fromByteBuffer(S, bg, og + off, ORDER));
                accG = accG.add(g);
                accGH = g.fma(FloatVector.fromByteBuffer(S, bh, oh + row + off, ORDER), accGH);
            }
            float sumG = sumLanes(accG, scratch), sumGH = sumLanes(accGH, scratch);
            for (; j < d; j++) {
                int off = j * Float.BYTES;
                float g = bd.getFloat(od + row + off) * bg.getFloat(og + off);
                sumG += g;
                sumGH += g * bh.getFloat(oh + row + off);
            }
            float meanG = sumG / d, meanGH = sumGH / d, rs = br.getFloat(or + r * Float.BYTES);
            for (j = 0; j < bound; j += S.length()) {
                int off = j * Float.BYTES;
                FloatVector h = FloatVector.fromByteBuffer(S, bh, oh + row + off, ORDER);
                FloatVector g = FloatVector.fromByteBuffer(S, bd, od + row + off, ORDER).mul(FloatVector.fromByteBuffer(S, bg, og + off, ORDER));
                g.sub(meanG).sub(h.mul(meanGH)).mul(rs).intoByteBuffer(bx, ox + row + off, ORDER);
            }
            for (; j < d; j++) {
                int off = j * Float.BYTES;
                float h = bh.getFloat(oh + row + off);
                float g = bd.getFloat(od + row + off) * bg.getFloat(og + off);
                bx.putFloat(ox + row + off, rs * (g - meanG - h * meanGH));
            }
            if (dGamma != null || dBeta != null) {
                for (j = 0; j < d; j++) {
                    float dyj = bd.getFloat(od + row + j * Float.BYTES);
                    if (dGamma != null) dGamma[j] += dyj * bh.getFloat(oh + row + j * Float.BYTES);
                    if (dBeta != null) dBeta[j] += dyj;
                }
            }
        }
        if (dGamma != null) dgamma.addi(org.nd4j.linalg.factory.Nd4j.createFromArray(dGamma));
        if (dBeta != null) dbeta.addi(org.nd4j.linalg.factory.Nd4j.createFromArray(dBeta));
    }
}
