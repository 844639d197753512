package io.lorafleet.bench;

import io.lorafleet.model.ModelWeights;
import io.lorafleet.model.SequenceClassifier;
import io.lorafleet.model.TokenBatch;
import io.lorafleet.nn.LoraConfig;
import io.lorafleet.nn.Param;
import io.lorafleet.optim.OptimizerConfig;
import io.lorafleet.train.Trainer;
import org.nd4j.linalg.api.buffer.DataType;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * {@code lorafleet bench inference}: the forward pass (logits of a classification batch) of the MiniLM shape
 * with a LoRA adapter unmerged, the same adapter merged into W, and the model without any adapter, measured
 * in one process with the three interleaved (so drift hits all alike), on the threads OMP_NUM_THREADS gives.
 * Usage: InferenceBenchmark REPO_ROOT COMMAND_LINE ROUNDS
 */
public final class InferenceBenchmark {
    public static void main(String[] args) throws Exception {
        Path root = Path.of(args[0]);
        int rounds = Integer.parseInt(args[2]);
        EngineShape shape = EngineShape.named("minilm");
        ModelWeights weights = ModelWeights.random(shape.config(), DataType.FLOAT, 1);
        LoraConfig lora = LoraConfig.of(shape.rank(), 2.0 * shape.rank(), List.of("query", "value"));
        SequenceClassifier adapted = SequenceClassifier.create(shape.config(), weights, lora, 2, SequenceClassifier.Pooling.MEAN, 1);
        // B = 0 would make the merge a no-op numerically; any B shows the merged forward costs what the base costs
        for (Param p : adapted.params().params()) if (p.name().endsWith(io.lorafleet.nn.LoraDelta.B_SUFFIX)) p.value().assign(0.01);
        SequenceClassifier merged = SequenceClassifier.create(shape.config(), ModelWeights.random(shape.config(), DataType.FLOAT, 1), lora, 2,
                SequenceClassifier.Pooling.MEAN, 1);
        merged.params().values().assign(adapted.params().values());
        merged.merge();
        // the model without adapters: every projection a plain Linear (full fine-tuning builds no LoRA path)
        SequenceClassifier base = SequenceClassifier.create(shape.config(), ModelWeights.random(shape.config(), DataType.FLOAT, 1), null, 2,
                SequenceClassifier.Pooling.MEAN, 1);

        StringBuilder s = new StringBuilder("## Inference: merged vs unmerged LoRA forward\n\n");
        s.append(BenchmarkReport.machine()).append(String.format(Locale.ROOT, ", OMP_NUM_THREADS=%s.%n%nCommand: `%s`. MiniLM-L6 shape (d=384, "
                + "6 layers), LoRA r=%d on query and value; logits of one batch, %d interleaved rounds after 3 warm-up rounds, median.%n%n",
                System.getenv().getOrDefault("OMP_NUM_THREADS", "?"), args[1], shape.rank(), rounds));
        s.append("| batch | no adapter (base) ms | LoRA merged ms | LoRA unmerged ms | merged / base | unmerged / base |\n|---|---|---|---|---|---|\n");
        for (int[] bt : new int[][] {{1, 128}, {16, 128}}) {
            TokenBatch batch = batch(shape, bt[0], bt[1]);
            try (Trainer a = new Trainer(adapted, OptimizerConfig.adam(1e-4)); Trainer m = new Trainer(merged, OptimizerConfig.adam(1e-4));
                 Trainer b = new Trainer(base, OptimizerConfig.adam(1e-4))) {
                Trainer[] models = {b, m, a};
                double[][] ms = new double[3][rounds];
                for (int r = -3; r < rounds; r++) {
                    for (int k = 0; k < 3; k++) {
                        long t0 = System.nanoTime();
                        models[k].classify(batch);
                        if (r >= 0) ms[k][r] = (System.nanoTime() - t0) / 1e6;
                    }
                }
                double baseMs = median(ms[0]), mergedMs = median(ms[1]), unmergedMs = median(ms[2]);
                s.append(String.format(Locale.ROOT, "| %d × %d | %.1f | %.1f | %.1f | %.3f | %.3f |%n", bt[0], bt[1], baseMs, mergedMs, unmergedMs,
                        mergedMs / baseMs, unmergedMs / baseMs));
            }
        }
        s.append("\nMerging folds s·B·A into W once (`LoraLinear.merge`), after which the forward is the base forward: no extra operation per token.\n");
        System.out.print(s);
        BenchmarkReport.writeSection(root.resolve("BENCHMARKS.md"), "inference", s.toString());
    }

    private static double median(double[] v) {
        double[] c = v.clone();
        Arrays.sort(c);
        return c[c.length / 2];
    }

    private static TokenBatch batch(EngineShape shape, int b, int t) {
        SplittableRandom random = new SplittableRandom(3);
        int[] ids = new int[b * t], mask = new int[b * t], labels = new int[b];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = 1000 + random.nextInt(shape.config().vocabSize() - 1000);
            mask[i] = 1;
        }
        return new TokenBatch(b, t, ids, null, mask, labels);
    }
}
