package io.lorafleet.nn;

import java.util.SplittableRandom;

/** Fills a fresh trainable tensor (flattened, C order) from a random stream seeded for that tensor alone. */
@FunctionalInterface
public interface Initializer {
    void fill(double[] values, long[] shape, SplittableRandom random);

    Initializer ZEROS = (values, shape, random) -> { };

    /** Uniform(-b, b) with b = 1/sqrt(fan_in): PyTorch's kaiming_uniform_(a=sqrt(5)), which PEFT uses for lora_A. */
    Initializer KAIMING_UNIFORM = (values, shape, random) -> {
        double bound = 1.0 / Math.sqrt(shape[shape.length - 1]);
        for (int i = 0; i < values.length; i++) values[i] = random.nextDouble(-bound, bound);
    };

    /** Normal(0, std). PEFT's "gaussian" init of lora_A uses std = 1/r. */
    static Initializer gaussian(double std) {
        return (values, shape, random) -> {
            for (int i = 0; i < values.length; i += 2) {
                // Box-Muller: two normals per pair of uniforms, so the stream does not depend on a library.
                double u1 = 1.0 - random.nextDouble();
                double u2 = random.nextDouble();
                double radius = Math.sqrt(-2.0 * Math.log(u1));
                values[i] = std * radius * Math.cos(2 * Math.PI * u2);
                if (i + 1 < values.length) values[i + 1] = std * radius * Math.sin(2 * Math.PI * u2);
            }
        };
    }

    /** Copies the given values (e.g. a pretrained tensor that full fine-tuning makes trainable). */
    static Initializer copyOf(org.nd4j.linalg.api.ndarray.INDArray source) {
        double[] copy = source.dup('c').data().asDouble();
        return (values, shape, random) -> System.arraycopy(copy, 0, values, 0, values.length);
    }
}
