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
 * What the layers' fused float32 kernels share (each kernel lives in its layer's file: Gelu, LayerNorm,
 * AttentionCore): the vector species, exp and tanh, ordered lane sums, the thread split, and the view of
 * ND4J's off-heap buffers. Rows or chunks are bulk-copied to heap arrays and the vector code runs on those. Each kernel keeps its arrays reachable
 * until it returns ({@link Reference#reachabilityFence}): the NIO view of an ND4J buffer does not hold the
 * buffer, and once compiled code no longer uses the INDArray the GC may collect it and ND4J free the
 * memory under the view (seen twice in CI as SIGSEGV in the compiled attention softmax).
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
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();
    /**
     * The kernels read and write arrays through host memory, so they run only on the CPU backend: on CUDA an
     * array's host copy may be stale, and the ND4J formulation runs on the device instead.
     */
    private static final boolean PRESENT = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent()
            && org.nd4j.linalg.factory.Nd4j.getEnvironment().isCPU();

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
    static float sumLanes(FloatVector v, float[] scratch) {
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

    interface Range {
        void run(int from, int to);
    }

    /** Runs body over [0, n) in contiguous parts, one per thread; the calling thread takes the first. */
    static void parallel(int n, Range body) {
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
    static FloatBuffer floats(INDArray a) {
        FloatBuffer f = a.data().asNio().order(ORDER).asFloatBuffer();
        return f.position(Math.toIntExact(a.offset())).slice();
    }

    /** True when a is a float32 matrix whose rows are contiguous (unit column stride; rows may be spaced, as in a column view). */
    static boolean rowsContiguous(INDArray a) {
        return PRESENT && a.dataType() == DataType.FLOAT && a.rank() == 2 && a.stride(1) == 1;
    }

}
