package io.lorafleet.nn;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;
import java.util.function.Supplier;

/** Central finite differences in float64 against analytic gradients. */
public final class GradientCheck {
    private static final double EPS = 1e-5;
    /**
     * Floor of the relative error's denominator: a gradient element smaller than this is judged by its
     * absolute error over this floor, since finite differences cannot resolve it more finely.
     */
    private static final double MAGNITUDE_FLOOR = 1e-3;

    private GradientCheck() { }

    /**
     * For the scalar L = Σ y ⊙ r, with y the output of {@code forward}: perturbs every element of
     * {@code target} (a view is fine) and returns the largest relative error
     * |analytic − numeric| / max(|analytic|, |numeric|, 1e-3). The numeric derivative is Σ (y₊ − y₋) ⊙ r / 2ε:
     * subtracting outputs before summing keeps the untouched elements from drowning the difference in rounding.
     */
    public static double maxRelativeError(INDArray target, INDArray analytic, Supplier<INDArray> forward, INDArray r) {
        if (target.dataType() != DataType.DOUBLE) throw new IllegalArgumentException("gradient checks run in float64");
        double worst = 0;
        for (long i = 0; i < target.length(); i++) {
            double original = target.getDouble(i);
            target.putScalar(i, original + EPS);
            INDArray plus = forward.get().dup();
            target.putScalar(i, original - EPS);
            INDArray minus = forward.get().dup();
            target.putScalar(i, original);
            double numeric = plus.subi(minus).muli(r).sumNumber().doubleValue() / (2 * EPS);
            double a = analytic.getDouble(i);
            double error = Math.abs(a - numeric) / Math.max(MAGNITUDE_FLOOR, Math.max(Math.abs(a), Math.abs(numeric)));
            worst = Math.max(worst, error);
        }
        return worst;
    }

    /** The same for a scalar loss. */
    public static double maxRelativeError(INDArray target, INDArray analytic, DoubleSupplier loss) {
        return maxRelativeError(target, analytic, () -> Nd4j.scalar(loss.getAsDouble()), Nd4j.scalar(1.0));
    }

    public static INDArray randn(long seed, long... shape) {
        SplittableRandom r = new SplittableRandom(seed);
        long n = 1;
        for (long s : shape) n *= s;
        double[] v = new double[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) v[i] = Math.sqrt(-2 * Math.log(1 - r.nextDouble())) * Math.cos(2 * Math.PI * r.nextDouble());
        return Nd4j.createFromArray(v).reshape('c', shape);
    }
}
