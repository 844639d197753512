package io.lorafleet.spark;

import io.lorafleet.datasets.YamlConfig;
import io.lorafleet.model.SequenceClassifier;
import io.lorafleet.nn.LoraConfig;
import io.lorafleet.optim.OptimizerConfig;

import java.io.IOException;
import java.io.Serializable;
import java.util.List;
import java.util.Map;

/**
 * What the train job does, from one YAML file:
 * <pre>
 * model: runs/models/all-minilm-l6-v2       # HF model folder, any Hadoop URI
 * shards: runs/demo/shards                  # the tokenize job's output (made with this model's tokenizer)
 * adapters: [imdb]                          # default: every adapter in the shards' manifest
 * output: runs/demo/adapters
 * checkpoints: runs/demo/checkpoints        # default: &lt;output&gt;/_checkpoints
 * checkpoint_every: 5                       # rounds; 0 = only the final state
 * lora: {r: 8, alpha: 16, dropout: 0.1, target_modules: [query, value]}
 * head: {pooling: mean}
 * optimizer: {kind: adamw, learning_rate: 1e-3, weight_decay: 0.01, warmup_steps: 10, decay: linear, max_grad_norm: 1.0}
 * batch_size: 16                            # per partition and local step
 * partitions: 2                             # data-parallel workers
 * local_steps: 4                            # steps between two averagings
 * epochs: 1.0                               # or rounds: N
 * seed: 42
 * optimizer_state: average                  # average (default) or reset: Adam moments restart each round and never move
 * </pre>
 */
public record TrainConfig(String model, String shards, List<String> adapters, String output, String checkpoints, Integer checkpointEvery,
                          Lora lora, Head head, Optim optimizer, Integer batchSize, Integer partitions, Integer localSteps, Double epochs,
                          Integer rounds, Long seed, OptimizerStateMode optimizerState, Integer maxNanRetries, String trainSplit,
                          String evalSplit) implements Serializable {
    public enum OptimizerStateMode { AVERAGE, RESET }

    public TrainConfig {
        require(model, "model");
        require(shards, "shards");
        require(output, "output");
        adapters = adapters == null ? List.of() : List.copyOf(adapters);
        checkpoints = checkpoints == null ? output.replaceAll("/+$", "") + "/_checkpoints" : checkpoints;
        checkpointEvery = positiveOrZero(checkpointEvery == null ? 0 : checkpointEvery, "checkpoint_every");
        if (lora == null) throw new IllegalArgumentException("lora: required (at least lora.target_modules)");
        head = head == null ? new Head(null) : head;
        optimizer = optimizer == null ? new Optim(null, null, null, null, null, null, null, null, null) : optimizer;
        batchSize = positive(batchSize == null ? 16 : batchSize, "batch_size");
        partitions = positive(partitions == null ? 1 : partitions, "partitions");
        localSteps = positive(localSteps == null ? 1 : localSteps, "local_steps");
        if (epochs != null && rounds != null) throw new IllegalArgumentException("give epochs or rounds, not both");
        if (epochs == null && rounds == null) epochs = 1.0;
        if (epochs != null && !(epochs > 0)) throw new IllegalArgumentException("epochs: must be > 0, is " + epochs);
        if (rounds != null) positive(rounds, "rounds");
        seed = seed == null ? 42L : seed;
        optimizerState = optimizerState == null ? OptimizerStateMode.AVERAGE : optimizerState;
        maxNanRetries = positiveOrZero(maxNanRetries == null ? 3 : maxNanRetries, "max_nan_retries");
        trainSplit = trainSplit == null ? "train" : trainSplit;
        evalSplit = evalSplit == null ? "validation" : evalSplit;
    }

    /** LoRA settings as PEFT names them. */
    public record Lora(Integer r, Double alpha, Double dropout, List<String> targetModules, Boolean rsLora, String init,
                       Map<String, Integer> rankPattern, Map<String, Double> alphaPattern) implements Serializable {
        public Lora {
            if (targetModules == null || targetModules.isEmpty()) throw new IllegalArgumentException("lora.target_modules: required, e.g. [query, value]");
            toConfig(r, alpha, dropout, targetModules, rsLora, init, rankPattern, alphaPattern); // validates
        }

        public LoraConfig toConfig() {
            return toConfig(r, alpha, dropout, targetModules, rsLora, init, rankPattern, alphaPattern);
        }

        private static LoraConfig toConfig(Integer r, Double alpha, Double dropout, List<String> targets, Boolean rsLora, String init,
                                           Map<String, Integer> rankPattern, Map<String, Double> alphaPattern) {
            int rank = r == null ? 8 : r;
            LoraConfig.Init i = switch (init == null ? "kaiming" : init.toLowerCase(java.util.Locale.ROOT)) {
                case "kaiming", "kaiming_uniform", "true" -> LoraConfig.Init.KAIMING_UNIFORM;
                case "gaussian" -> LoraConfig.Init.GAUSSIAN;
                default -> throw new IllegalArgumentException("lora.init: '" + init + "' is not kaiming or gaussian");
            };
            return new LoraConfig(rank, alpha == null ? 8.0 : alpha, // PEFT's default lora_alpha
                    dropout == null ? 0.0 : dropout, targets,
                    rsLora != null && rsLora, i, rankPattern == null ? Map.of() : rankPattern, alphaPattern == null ? Map.of() : alphaPattern);
        }
    }

    public record Head(SequenceClassifier.Pooling pooling) implements Serializable {
        public Head {
            pooling = pooling == null ? SequenceClassifier.Pooling.MEAN : pooling;
        }
    }

    /** The optimizer; the run's total steps (for decay) come from rounds × local_steps. */
    public record Optim(OptimizerConfig.Kind kind, Double learningRate, Double beta1, Double beta2, Double epsilon, Double weightDecay,
                        Double maxGradNorm, Integer warmupSteps, OptimizerConfig.Decay decay) implements Serializable {
        public Optim {
            kind = kind == null ? OptimizerConfig.Kind.ADAMW : kind;
            learningRate = learningRate == null ? 1e-3 : learningRate;
            beta1 = beta1 == null ? 0.9 : beta1;
            beta2 = beta2 == null ? 0.999 : beta2;
            epsilon = epsilon == null ? 1e-8 : epsilon;
            weightDecay = weightDecay == null ? (kind == OptimizerConfig.Kind.ADAMW ? 0.01 : 0.0) : weightDecay;
            maxGradNorm = maxGradNorm == null ? 1.0 : maxGradNorm;
            warmupSteps = warmupSteps == null ? 0 : warmupSteps;
            decay = decay == null ? OptimizerConfig.Decay.LINEAR : decay;
            new OptimizerConfig(kind, learningRate, beta1, beta2, epsilon, weightDecay, maxGradNorm, warmupSteps, Integer.MAX_VALUE, decay); // validates
        }

        /** @param learningRateScale lowered after a round with NaN/Inf */
        public OptimizerConfig toConfig(int totalSteps, double learningRateScale) {
            return new OptimizerConfig(kind, learningRate * learningRateScale, beta1, beta2, epsilon, weightDecay, maxGradNorm, warmupSteps,
                    totalSteps, decay);
        }
    }

    /**
     * The same config with every path made absolute on the driver's file system: executors run in other
     * working directories (a relative "runs/demo/shards" means nothing there).
     */
    public TrainConfig qualified(org.apache.hadoop.conf.Configuration conf) throws IOException {
        return new TrainConfig(qualify(model, conf), qualify(shards, conf), adapters, qualify(output, conf), qualify(checkpoints, conf), checkpointEvery,
                lora, head, optimizer, batchSize, partitions, localSteps, epochs, rounds, seed, optimizerState, maxNanRetries, trainSplit, evalSplit);
    }

    private static String qualify(String uri, org.apache.hadoop.conf.Configuration conf) throws IOException {
        org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(uri);
        return p.getFileSystem(conf).makeQualified(p).toString();
    }

    public static TrainConfig load(byte[] yaml, String source, List<String> overrides) throws IOException {
        return YamlConfig.load(yaml, source, overrides, TrainConfig.class);
    }

    private static void require(String value, String key) {
        if (value == null || value.isBlank()) throw new IllegalArgumentException(key + ": required");
    }

    private static int positive(int v, String key) {
        if (v <= 0) throw new IllegalArgumentException(key + ": must be > 0, is " + v);
        return v;
    }

    private static int positiveOrZero(int v, String key) {
        if (v < 0) throw new IllegalArgumentException(key + ": must be >= 0, is " + v);
        return v;
    }
}
