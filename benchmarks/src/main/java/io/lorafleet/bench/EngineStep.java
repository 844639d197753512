package io.lorafleet.bench;

import io.lorafleet.model.CheckpointLayers;
import io.lorafleet.model.DecoderBlock;
import io.lorafleet.model.LayerBackward;
import io.lorafleet.model.LlamaBlock;
import io.lorafleet.model.ModelWeights;
import io.lorafleet.model.SequenceClassifier;
import io.lorafleet.model.TokenBatch;
import io.lorafleet.model.Tuning;
import io.lorafleet.nn.LoraConfig;
import io.lorafleet.nn.ParamRegistry;
import io.lorafleet.nn.RotaryEmbedding;
import io.lorafleet.optim.Optimizer;
import io.lorafleet.optim.OptimizerConfig;
import io.lorafleet.train.Trainer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Times training steps (forward + backward + Adam) of one workload in this JVM and prints one JSON line.
 * Threads are set by the caller through OMP_NUM_THREADS. Usage: EngineStep SHAPE lora|full WARMUP STEPS,
 * or EngineStep minilm lora WARMUP PASSES BATCHES_JSON to train on real batches (see {@link RealBatches}).
 */
public final class EngineStep {
    /**
     * Warm-up lasts at least this long as well as WARMUP steps: the JIT compiler works for several seconds and, with
     * every core computing, takes the cores from the step (measured: a 2-thread Llama block step 40 ms after 5 warm-up
     * steps, 29.5 ms after 200). deploy/bench/peft_engine.py warms the peer as long.
     */
    static final double WARMUP_SECONDS = 10;

    public static void main(String[] args) throws java.io.IOException {
        if (args.length == 5) {
            realBatches(Integer.parseInt(args[2]), Integer.parseInt(args[3]), RealBatches.read(java.nio.file.Path.of(args[4])));
            return;
        }
        if (args.length != 4) {
            System.err.println("usage: EngineStep minilm|gpt2-block|llama-block lora|full WARMUP_STEPS TIMED_STEPS [BATCHES_JSON]");
            System.exit(2);
        }
        EngineShape shape = EngineShape.named(args[0]);
        boolean full = switch (args[1]) {
            case "lora" -> false;
            case "full" -> true;
            default -> throw new IllegalArgumentException("mode must be lora or full, got " + args[1]);
        };
        int warmup = Integer.parseInt(args[2]), steps = Integer.parseInt(args[3]);
        Workload workload = shape.name().equals("minilm") ? classifierStep(shape, full) : blockStep(shape, full);
        Runnable step = workload.step();
        double[] ms = timedMs(step, warmup, WARMUP_SECONDS, steps);
        double median = ms[steps / 2];
        double tokensPerSecond = shape.batch() * (double) shape.seqLen() / (median / 1e3);
        double gflops = shape.flopsPerStep(full) / (median / 1e3) / 1e9;
        long rss = peakRssMb(); // before profiling, which adds the recorder's own memory
        double gemmGflops = projectionGemmGflops(shape);
        double gemmShare = GemmShare.of(() -> {
            for (int i = 0; i < steps; i++) step.run();
        });
        System.out.printf(java.util.Locale.ROOT,
                "{\"engine\":\"lorafleet\",\"shape\":\"%s\",\"mode\":\"%s\",\"threads\":\"%s\",\"ms_per_step\":%.1f,\"min_ms\":%.1f,"
                        + "\"tokens_per_s\":%.0f,\"gflops\":%.1f,\"gemm_gflops\":%.1f,\"gemm_share\":%.3f,\"peak_rss_mb\":%d,\"trainable_params\":%d,\"optimizer_state_bytes\":%d}%n",
                shape.name(), args[1], System.getenv().getOrDefault("OMP_NUM_THREADS", "?"), median, ms[0], tokensPerSecond, gflops,
                gemmGflops, gemmShare, rss, workload.trainable(), workload.optimizerStateBytes());
    }

    /**
     * The MiniLM workload on real batches: each pass is one training step per batch, in order; reports the
     * median pass. Batches arrive padded to their longest sequence; the engine computes on real tokens only.
     */
    private static void realBatches(int warmup, int passes, RealBatches data) {
        Trainer trainer = classifierTrainer(EngineShape.named("minilm"), false);
        List<TokenBatch> batches = data.batches().stream().map(b -> b.padded(b.longest())).toList();
        double median = timedMs(() -> batches.forEach(trainer::step), warmup, WARMUP_SECONDS, passes)[passes / 2];
        System.out.printf(java.util.Locale.ROOT,
                "{\"engine\":\"lorafleet\",\"dataset\":\"%s\",\"padding\":\"none (packed)\",\"threads\":\"%s\",\"ms_per_batch\":%.1f,"
                        + "\"real_tokens_per_s\":%.0f,\"computed_tokens\":%d,\"peak_rss_mb\":%d}%n",
                data.name(), System.getenv().getOrDefault("OMP_NUM_THREADS", "?"), median / batches.size(),
                data.realTokens() / (median / 1e3), data.realTokens(), peakRssMb());
    }

    /**
     * This process's gemm rate (GFLOP/s, at its thread count) on the workload's projection shapes — tokens × d
     * times d × d, d × FFN and FFN × d, as the step computes them — for the step's floor: its matrix-product
     * FLOPs at this rate.
     */
    private static double projectionGemmGflops(EngineShape shape) {
        int n = shape.batch() * shape.seqLen(), d = shape.config().hiddenSize(), f = shape.config().intermediateSize();
        int[][] shapes = {{n, d, d}, {n, d, f}, {n, f, d}}; // rows, inner, outer: x [rows, inner] · Wᵀ, W [outer, inner]
        double flops = 0, seconds = 0;
        for (int[] s : shapes) {
            INDArray x = Nd4j.rand(DataType.FLOAT, s[0], s[1]), w = Nd4j.rand(DataType.FLOAT, s[2], s[1]);
            INDArray y = Nd4j.createUninitialized(DataType.FLOAT, s[0], s[2]);
            double ms = timedMs(() -> Nd4j.gemm(x, w, y, false, true, 1.0, 0.0), 3, 0, 15)[7];
            flops += 2.0 * s[0] * s[1] * s[2];
            seconds += ms / 1e3;
        }
        return flops / seconds / 1e9;
    }

    /** Runs {@code work} {@code warmup} times and for at least {@code warmupSeconds}, then times it {@code runs} times: milliseconds, sorted. */
    private static double[] timedMs(Runnable work, int warmup, double warmupSeconds, int runs) {
        long warmUntil = System.nanoTime() + (long) (warmupSeconds * 1e9);
        for (int i = 0; i < warmup || System.nanoTime() < warmUntil; i++) work.run();
        double[] ms = new double[runs];
        for (int i = 0; i < runs; i++) {
            long t0 = System.nanoTime();
            work.run();
            ms[i] = (System.nanoTime() - t0) / 1e6;
        }
        java.util.Arrays.sort(ms);
        return ms;
    }

    /** One training step to time, and what it trains: trainable parameters and the optimizer state's bytes. */
    private record Workload(Runnable step, long trainable, long optimizerStateBytes) {
        static Workload of(Runnable step, ParamRegistry params, Optimizer optimizer) {
            INDArray state = optimizer.state();
            return new Workload(step, params.size(), state == null ? 0 : state.length() * state.dataType().width());
        }
    }

    /** The MiniLM workload's model (random weights, mean-pooled 2-class head; LoRA r on query and value unless full) and its Adam trainer. */
    static Trainer classifierTrainer(EngineShape shape, boolean full) {
        LoraConfig lora = full ? null : LoraConfig.of(shape.rank(), 2.0 * shape.rank(), List.of("query", "value"));
        SequenceClassifier model = SequenceClassifier.create(shape.config(), ModelWeights.random(shape.config(), DataType.FLOAT, 1),
                lora, 2, SequenceClassifier.Pooling.MEAN, 1);
        return new Trainer(model, OptimizerConfig.adam(1e-4));
    }

    private static Workload classifierStep(EngineShape shape, boolean full) {
        Trainer trainer = classifierTrainer(shape, full);
        TokenBatch batch = randomBatch(shape);
        return Workload.of(() -> trainer.step(batch), trainer.model().params(), trainer.optimizer());
    }

    /**
     * One decoder block on random hidden states with loss Σ y ⊙ r: the block's cost alone. GPT-2's with LoRA on its fused
     * c_attn; Llama's with LoRA on q_proj and v_proj, positions 0..T−1 in every sequence.
     */
    private static Workload blockStep(EngineShape shape, boolean full) {
        ParamRegistry registry = new ParamRegistry();
        boolean llama = shape.config().llama() != null;
        List<String> targets = llama ? List.of("q_proj", "v_proj") : List.of("c_attn");
        Tuning tuning = full ? Tuning.fullFineTuning(registry, 1)
                : Tuning.lora(new LoraConfig(shape.rank(), 2.0 * shape.rank(), 0, targets, false, LoraConfig.Init.KAIMING_UNIFORM,
                Map.of(), Map.of(), false), registry, 1);
        CheckpointLayers layers = new CheckpointLayers(shape.config(), ModelWeights.random(shape.config(), DataType.FLOAT, 1), tuning);
        DecoderBlock gpt2 = llama ? null : new DecoderBlock(shape.config(), layers, 0);
        LlamaBlock llamaBlock = llama ? new LlamaBlock(shape.config(), layers, 0) : null;
        int[] positions = new int[shape.batch() * shape.seqLen()];
        for (int i = 0; i < positions.length; i++) positions[i] = i % shape.seqLen();
        RotaryEmbedding.Angles angles = llama
                ? new RotaryEmbedding(shape.config().llama().rope().inverseFrequencies(shape.config().headDim())).angles(positions) : null;
        registry.allocate(DataType.FLOAT, 1);
        Optimizer adam = new Optimizer(OptimizerConfig.adam(1e-4), registry);
        int n = shape.batch() * shape.seqLen(), d = shape.config().hiddenSize();
        INDArray x = Nd4j.rand(DataType.FLOAT, n, d), r = Nd4j.rand(DataType.FLOAT, n, d);
        int[] starts = new int[shape.batch() + 1];
        for (int b = 0; b <= shape.batch(); b++) starts[b] = b * shape.seqLen();
        int[] step = {0};
        return Workload.of(() -> {
            try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().getAndActivateWorkspace(LayerBackward.REUSED, "bench-block")) {
                registry.zeroGrads();
                if (llama) {
                    llamaBlock.forward(x, starts, angles);
                    llamaBlock.backward(r, false); // the random input needs no gradient, as in the PyTorch reference
                } else {
                    gpt2.forward(x, starts);
                    gpt2.backward(r, false);
                }
                adam.step(step[0]++);
            }
        }, registry, adam);
    }

    static TokenBatch randomBatch(EngineShape shape) {
        SplittableRandom random = new SplittableRandom(3);
        int n = shape.batch() * shape.seqLen();
        int[] ids = new int[n], mask = new int[n], labels = new int[shape.batch()];
        for (int i = 0; i < n; i++) {
            ids[i] = 1000 + random.nextInt(shape.config().vocabSize() - 1000);
            mask[i] = 1;
        }
        for (int b = 0; b < labels.length; b++) labels[b] = random.nextInt(2);
        return new TokenBatch(shape.batch(), shape.seqLen(), ids, null, mask, labels);
    }

    /** The process's peak resident set (VmHWM), in MiB; -1 where /proc is missing. */
    static long peakRssMb() {
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) return Long.parseLong(line.replaceAll("\\D", "")) / 1024;
            }
        } catch (java.io.IOException e) {
            return -1;
        }
        return -1;
    }
}
