package io.lorafleet.nn;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * One named tensor of a model. A frozen param holds its value and has no gradient buffer at all; a
 * trainable param is a view into the flat value and gradient vectors of a {@link ParamRegistry},
 * bound when the registry allocates them.
 */
public final class Param {
    private final String name;
    private final long[] shape;
    private final boolean trainable;
    private INDArray value; // shape
    private INDArray grad;  // shape; null for frozen params

    private Param(String name, long[] shape, boolean trainable, INDArray value) {
        this.name = name;
        this.shape = shape.clone();
        this.trainable = trainable;
        this.value = value;
    }

    public static Param frozen(String name, INDArray value) {
        return new Param(name, value.shape(), false, value);
    }

    static Param unbound(String name, long[] shape) {
        return new Param(name, shape, true, null);
    }

    void bind(INDArray valueView, INDArray gradView) {
        this.value = valueView;
        this.grad = gradView;
    }

    public String name() { return name; }

    public long[] shape() { return shape.clone(); }

    public boolean trainable() { return trainable; }

    public INDArray value() {
        if (value == null) {
            throw new IllegalStateException("param " + name + " used before its ParamRegistry was allocated");
        }
        return value;
    }

    /** The gradient accumulator; only trainable params have one. */
    public INDArray grad() {
        if (!trainable) {
            throw new IllegalStateException("param " + name + " is frozen and has no gradient");
        }
        if (grad == null) {
            throw new IllegalStateException("param " + name + " used before its ParamRegistry was allocated");
        }
        return grad;
    }

    public long length() {
        long n = 1;
        for (long s : shape) n *= s;
        return n;
    }
}
