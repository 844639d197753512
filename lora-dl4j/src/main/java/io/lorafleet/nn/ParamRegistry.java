package io.lorafleet.nn;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * All trainable tensors of a model as one flat vector with named views. Averaging across
 * workers, checkpointing and the optimizer all see the same two vectors: values and gradients.
 *
 * <p>Layers declare their trainable tensors while the model is built; {@link #allocate} then creates
 * the flat vectors, binds every declared {@link Param} to its views and initializes it. Each tensor's
 * initial values depend only on the seed and its name, not on declaration order.
 */
public final class ParamRegistry {
    private record Declaration(Param param, Initializer init) { }

    private final Map<String, Declaration> declared = new LinkedHashMap<>();
    private INDArray values; // [P]
    private INDArray grads;  // [P]

    public Param trainable(String name, long[] shape, Initializer init) {
        if (values != null) throw new IllegalStateException("registry already allocated; cannot add " + name);
        if (declared.containsKey(name)) throw new IllegalArgumentException("duplicate trainable param " + name);
        Param p = Param.unbound(name, shape);
        declared.put(name, new Declaration(p, init));
        return p;
    }

    /** Makes a pretrained tensor trainable, starting from its current values (full fine-tuning). */
    public Param trainableCopyOf(String name, INDArray pretrained) {
        return trainable(name, pretrained.shape(), Initializer.copyOf(pretrained));
    }

    public void allocate(DataType dtype, long seed) {
        if (values != null) throw new IllegalStateException("registry already allocated");
        long total = declared.values().stream().mapToLong(d -> d.param().length()).sum();
        values = Nd4j.create(dtype, Math.max(total, 1));
        grads = Nd4j.create(dtype, Math.max(total, 1));
        long offset = 0;
        for (Declaration d : declared.values()) {
            Param p = d.param();
            long n = p.length();
            p.bind(view(values, offset, n, p.shape()), view(grads, offset, n, p.shape()));
            double[] init = new double[Math.toIntExact(n)];
            d.init().fill(init, p.shape(), new SplittableRandom(seed ^ stableHash(p.name())));
            p.value().assign(Nd4j.createFromArray(init).castTo(dtype).reshape('c', p.shape()));
            offset += n;
        }
    }

    private static INDArray view(INDArray flat, long offset, long n, long[] shape) {
        INDArray v = flat.get(NDArrayIndex.interval(offset, offset + n)).reshape('c', shape);
        if (!v.isView()) throw new IllegalStateException("reshape copied instead of viewing");
        return v;
    }

    private static long stableHash(String s) {
        long h = 1125899906842597L;
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) h = 31 * h + b;
        return h;
    }

    /** Flat trainable values, [P]. */
    public INDArray values() { return checkAllocated(values); }

    /** Flat gradients, [P], in the same layout as {@link #values()}. */
    public INDArray grads() { return checkAllocated(grads); }

    public void zeroGrads() { grads().assign(0); }

    public long size() { return declared.values().stream().mapToLong(d -> d.param().length()).sum(); }

    public List<Param> params() {
        List<Param> out = new ArrayList<>();
        declared.values().forEach(d -> out.add(d.param()));
        return Collections.unmodifiableList(out);
    }

    public Param get(String name) {
        Declaration d = declared.get(name);
        if (d == null) throw new IllegalArgumentException("no trainable param " + name + "; have " + declared.keySet());
        return d.param();
    }

    /** 1 where the flat vector holds a tensor that satisfies the filter, else 0; [P]. */
    public INDArray mask(java.util.function.Predicate<Param> filter) {
        INDArray m = Nd4j.create(values().dataType(), values().length());
        long offset = 0;
        for (Declaration d : declared.values()) {
            long n = d.param().length();
            if (filter.test(d.param())) m.get(NDArrayIndex.interval(offset, offset + n)).assign(1);
            offset += n;
        }
        return m;
    }

    private static INDArray checkAllocated(INDArray a) {
        if (a == null) throw new IllegalStateException("ParamRegistry not allocated yet");
        return a;
    }
}
