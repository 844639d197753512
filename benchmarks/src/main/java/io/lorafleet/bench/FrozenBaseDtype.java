package io.lorafleet.bench;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import io.lorafleet.nn.Linear;
import io.lorafleet.nn.Param;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;

/**
 * {@code lorafleet bench dtype}: whether to keep a bf16 checkpoint's frozen base in bf16 or widen it to fp32 on load, and
 * what an int8 base costs. The frozen projections x·Wᵀ of a SmolLM2-135M layer (hidden 576, 3 KV heads of 64, FFN 1,536)
 * over 16 × 128 tokens, four ways, interleaved, each as our {@link Linear} multiplies: W in fp32 (what we do), W kept in bf16 and widened for each product
 * (half the weight bytes), W in int8 with a scale per row as our {@link Linear} multiplies it (a quarter of the bytes),
 * and ND4J's own bf16 × bf16 product; with its error against the fp32 product.
 * Usage: FrozenBaseDtype REPO_ROOT COMMAND_LINE ROUNDS
 */
public final class FrozenBaseDtype {
    public static void main(String[] args) throws Exception {
        Path root = Path.of(args[0]);
        int rounds = Integer.parseInt(args[2]), tokens = 16 * 128;
        int[][] projections = {{576, 576}, {192, 576}, {1536, 576}, {576, 1536}}; // q/o, k/v, gate/up, down: [out, in]
        String[] names = {"q_proj, o_proj", "k_proj, v_proj", "gate_proj, up_proj", "down_proj"};
        StringBuilder s = new StringBuilder("## Frozen base in bf16 or fp32\n\n");
        s.append(BenchmarkReport.machine()).append(String.format(Locale.ROOT, ", OMP_NUM_THREADS=%s.%n%nCommand: `%s`. The frozen projections "
                + "x·Wᵀ of a SmolLM2-135M layer over 16 × 128 tokens (x fp32, values in [0, 1)), %d interleaved rounds after a warm-up, median; "
                + "bf16 × bf16 (ND4J's own product, which also returns bf16) timed once after a warm-up.%n%n", System.getenv().getOrDefault("OMP_NUM_THREADS", "?"),
                args[1], rounds));
        s.append("| projection [out × in] | W fp32 ms | W bf16, widened per product ms | W int8 (Linear) ms | bf16 × bf16 ms | int8 × int8 ms "
                + "| widened / fp32 | int8 / fp32 | W MB fp32 → bf16 → int8 | bf16 × bf16 max relative error |\n|---|---|---|---|---|---|---|---|---|---|\n");
        Nd4j.getRandom().setSeed(1);
        double slowest = Double.MAX_VALUE, widenedCost = 0, int8Cost = 0, slowestInt8 = Double.MAX_VALUE;
        for (int p = 0; p < projections.length; p++) {
            int out = projections[p][0], in = projections[p][1];
            INDArray x = Nd4j.rand(DataType.FLOAT, tokens, in), w = Nd4j.rand(DataType.FLOAT, out, in);
            INDArray w16 = w.castTo(DataType.BFLOAT16);
            INDArray scale = w.max(1).divi(127);
            Linear full = new Linear(Param.frozen("w", w), null);
            INDArray q = Transforms.round(w.divColumnVector(scale), false).castTo(DataType.BYTE);
            Linear int8 = new Linear(Param.frozen("w", q), scale, null);
            double[] fp32 = new double[rounds], widened = new double[rounds], quantized = new double[rounds];
            for (int r = -2; r < rounds; r++) {
                long t0 = System.nanoTime();
                INDArray y = full.forward(x);
                long t1 = System.nanoTime();
                INDArray yWidened = Nd4j.createUninitialized(DataType.FLOAT, tokens, out);
                Nd4j.gemm(x, w16.castTo(DataType.FLOAT), yWidened, false, true, 1.0, 0.0);
                long t2 = System.nanoTime();
                int8.forward(x);
                long t3 = System.nanoTime();
                if (r >= 0) {
                    fp32[r] = (t1 - t0) / 1e6;
                    widened[r] = (t2 - t1) / 1e6;
                    quantized[r] = (t3 - t2) / 1e6;
                }
                if (r == rounds - 1 && y.length() != yWidened.length()) throw new IllegalStateException("shapes differ");
            }
            INDArray x16 = x.castTo(DataType.BFLOAT16);
            x16.mmul(w16.transpose()); // warm-up
            long t0 = System.nanoTime();
            INDArray y16 = x16.mmul(w16.transpose());
            double bf16Ms = (System.nanoTime() - t0) / 1e6;
            // ND4J's own int8 × int8 product (its result is int8 too: it overflows; a product into int32 is refused)
            INDArray x8 = x.mul(127).castTo(DataType.BYTE);
            x8.mmul(q.transpose());
            long t8 = System.nanoTime();
            x8.mmul(q.transpose());
            double int8Ms = (System.nanoTime() - t8) / 1e6;
            INDArray exact = x.mmul(w.transpose());
            double error = y16.castTo(DataType.FLOAT).sub(exact).div(exact).amaxNumber().doubleValue();
            double a = median(fp32), b = median(widened), c = median(quantized);
            slowest = Math.min(slowest, bf16Ms / a);
            slowestInt8 = Math.min(slowestInt8, int8Ms / a);
            widenedCost += (b / a - 1) / projections.length;
            int8Cost += (c / a - 1) / projections.length;
            s.append(String.format(Locale.ROOT, "| %s [%d × %d] | %.2f | %.2f | %.2f | %.0f | %.0f | %.2f | %.2f | %.2f → %.2f → %.2f | %.1e |%n", names[p],
                    out, in, a, b, c, bf16Ms, int8Ms, b / a, c / a, out * (double) in * 4 / 1e6, out * (double) in * 2 / 1e6, out * (double) in / 1e6, error));
            System.out.printf("%s: fp32 %.2f ms, bf16 widened %.2f ms, int8 %.2f ms, bf16×bf16 %.0f ms (error %.1e)%n", names[p], a, b, c, bf16Ms, error);
        }
        s.append(String.format(Locale.ROOT, "%nND4J's own bf16 product is at least %.0f× slower than fp32 here and rounds its result to bf16; keeping "
                + "W in bf16 and widening it for each product costs %+.0f%% time on average for half the frozen weights' bytes (SmolLM2-135M: "
                + "270 MB instead of 540 MB). So we widen bf16 and fp16 checkpoints to fp32 on load; keeping bf16 would pay only where memory, "
                + "not time, is short. An int8 W (an imported quantized export: `lorafleet import-model` of the int8 MiniLM jar) costs %+.0f%% per "
                + "product for a quarter of the bytes; ND4J's own int8 product is at least %.0f× slower than fp32 and returns int8 (it overflows), "
                + "so we widen. QUALITY.md has its accuracy.%n", slowest, 100 * widenedCost, 100 * int8Cost, slowestInt8));
        BenchmarkReport.writeSection(root.resolve("BENCHMARKS.md"), "dtype", s.toString());
    }

    private static double median(double[] v) {
        double[] sorted = v.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }
}
