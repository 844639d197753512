package io.lorafleet.bench;

import io.lorafleet.datasets.DatasetSpec;
import io.lorafleet.datasets.Manifest;
import io.lorafleet.datasets.ShardFormat;
import io.lorafleet.datasets.ShardRow;
import io.lorafleet.datasets.YamlConfig;
import io.lorafleet.io.LocalModelFiles;
import io.lorafleet.io.PretrainedModel;
import io.lorafleet.model.SequenceClassifier;
import io.lorafleet.nn.LoraConfig;
import io.lorafleet.optim.OptimizerConfig;
import io.lorafleet.spark.Batches;
import io.lorafleet.spark.SparkJobs;
import io.lorafleet.spark.TokenizeJob;
import io.lorafleet.train.DataOrder;
import io.lorafleet.train.Trainer;
import org.apache.parquet.io.LocalInputFile;
import org.apache.spark.sql.SparkSession;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * {@code lorafleet bench quality}: the LoRA paper's claims on real data, written to QUALITY.md. Frozen
 * all-MiniLM-L6-v2 on IMDB (a fixed training subset and a fixed part of the test split, 128 tokens):
 * test accuracy (mean ± std over seeds) and trainable parameters of a linear probe, LoRA at several ranks and
 * target sets, and full fine-tuning. Runs train one at a time per thread (two threads, one core each).
 * Usage: QualityStudy REPO_ROOT COMMAND_LINE WORK_DIR TRAIN_ROWS TEST_ROWS EPOCHS SEEDS
 */
public final class QualityStudy {
    /**
     * One method of the study: LoRA settings (no targets: the head alone; null: full fine-tuning), its learning rate,
     * the LoRA+ ratio of B's learning rate to it (1: plain LoRA), and whether the frozen base is the int8 export.
     */
    record Method(String name, LoraConfig lora, double learningRate, double loraplusLrRatio, boolean int8) {
        Method(String name, LoraConfig lora, double learningRate, double loraplusLrRatio) {
            this(name, lora, learningRate, loraplusLrRatio, false);
        }
    }

    /** A run's outcome; earlyLoss is its mean training loss over the first fifth of its steps (how fast it starts to learn). */
    record Result(Method method, long seed, long trainable, double accuracy, double earlyLoss, double seconds) { }

    private static final String LORA = "LoRA r=8 {query, value}", LORA_PLUS_16 = "LoRA+ r=8 {query, value}, B at 16× the rate",
            LORA_PLUS_4 = "LoRA+ r=8 {query, value}, B at 4× the rate", DORA = "DoRA r=8 {query, value}", PISSA = "PiSSA r=8 {query, value}",
            OLORA = "OLoRA r=8 {query, value}", INT8 = "LoRA r=8 {query, value} on the int8 base";

    static List<Method> methods() {
        List<Method> m = new ArrayList<>();
        m.add(new Method("head only (linear probe)", lora(8, List.of()), 2e-3, 1));
        for (int r : new int[] {1, 2, 4, 8, 16}) m.add(new Method("LoRA r=" + r + " {query, value}", lora(r, List.of("query", "value")), 2e-3, 1));
        m.add(new Method("LoRA r=8 {query}", lora(8, List.of("query")), 2e-3, 1));
        m.add(new Method("LoRA r=8 {query, key, value, attention.output.dense}", lora(8, List.of("query", "key", "value", "attention.output.dense")), 2e-3, 1));
        // the variants at plain r=8's budget: LoRA+ at the paper's ratio (and PEFT's example), B learning 16× faster than A, and at 4×
        m.add(new Method(LORA_PLUS_16, lora(8, List.of("query", "value")), 2e-3, 16));
        m.add(new Method(LORA_PLUS_4, lora(8, List.of("query", "value")), 2e-3, 4));
        m.add(new Method(DORA, variant(LoraConfig.Init.KAIMING_UNIFORM, true), 2e-3, 1));
        m.add(new Method(PISSA, variant(LoraConfig.Init.PISSA, false), 2e-3, 1));
        m.add(new Method(OLORA, variant(LoraConfig.Init.OLORA, false), 2e-3, 1));
        m.add(new Method(INT8, lora(8, List.of("query", "value")), 2e-3, 1, true));
        m.add(new Method("full fine-tuning", null, 5e-5, 1));
        return m;
    }

    private static LoraConfig lora(int r, List<String> targets) {
        return new LoraConfig(r, 2.0 * r, 0.1, targets, false, LoraConfig.Init.KAIMING_UNIFORM, Map.of(), Map.of(), false);
    }

    /** r=8 on {query, value}, started as {@code init}, with DoRA or without. */
    private static LoraConfig variant(LoraConfig.Init init, boolean dora) {
        return new LoraConfig(8, 16, 0.1, List.of("query", "value"), false, init, Map.of(), Map.of(), dora);
    }

    public static void main(String[] args) throws Exception {
        Path root = Path.of(args[0]), work = Path.of(args[2]);
        int trainRows = Integer.parseInt(args[3]), testRows = Integer.parseInt(args[4]), epochs = Integer.parseInt(args[5]), seeds = Integer.parseInt(args[6]);
        Path model = root.resolve("runs/models/all-minilm-l6-v2");
        Map<String, List<ShardRow>> data = data(root, work, model, trainRows, testRows);
        PretrainedModel base = PretrainedModel.load(new LocalModelFiles(model));
        PretrainedModel int8 = PretrainedModel.load(new LocalModelFiles(root.resolve("runs/models/all-minilm-l6-v2-int8")));
        List<Run> runs = new ArrayList<>();
        for (Method method : methods()) for (long seed = 1; seed <= seeds; seed++) runs.add(new Run(method, seed));
        runs.sort(Comparator.comparing(r -> r.method().lora() != null)); // the slow full fine-tuning runs first: the two threads end together
        long started = System.nanoTime();
        ExecutorService pool = Executors.newFixedThreadPool(2);
        List<Future<Result>> futures = new ArrayList<>();
        for (Run run : runs) {
            futures.add(pool.submit(() -> train(run.method(), run.seed(), run.method().int8() ? int8 : base, data.get("train"), data.get("test"), epochs)));
        }
        List<Result> results = new ArrayList<>();
        for (Future<Result> f : futures) results.add(f.get());
        List<String> order = methods().stream().map(Method::name).toList();
        results.sort(Comparator.comparingInt(r -> order.indexOf(r.method().name())));
        pool.shutdown();
        double hours = (System.nanoTime() - started) / 3.6e12;
        String report = report(args[1], results, trainRows, data.get("test").size(), epochs, seeds, hours, bytes(int8), bytes(base));
        System.out.print(report);
        Files.writeString(root.resolve("QUALITY.md"), report);
        System.out.println("wrote " + root.resolve("QUALITY.md"));
    }

    private record Run(Method method, long seed) { }

    /** The fixed subsets (the first rows of each split in id order, ids being hashes of the text), tokenized by the tokenize job. */
    private static Map<String, List<ShardRow>> data(Path root, Path work, Path model, int trainRows, int testRows) throws Exception {
        Files.createDirectories(work);
        record Review(String id, String split, String line) { }
        List<Review> reviews = new ArrayList<>();
        for (String line : Files.readAllLines(root.resolve("datasets/imdb/data/imdb.jsonl"))) {
            var row = YamlConfig.json().readTree(line);
            reviews.add(new Review(row.get("id").asText(), row.get("split").asText(), line));
        }
        reviews.sort(Comparator.comparing(Review::id));
        List<String> train = new ArrayList<>(), test = new ArrayList<>();
        for (Review r : reviews) {
            if (r.split().equals("train") && train.size() < trainRows) train.add(r.line());
            if (r.split().equals("test") && test.size() < testRows) test.add(r.line());
        }
        Path subset = work.resolve("subset.jsonl");
        Files.write(subset, concat(train, test));
        DatasetSpec spec = ImdbTokenizeConf.load(root, subset, 128, work.resolve("shards"));
        SparkSession spark = SparkSession.builder().master("local[2]").appName("lorafleet bench quality").config("spark.ui.enabled", "false").getOrCreate();
        Manifest manifest = TokenizeJob.tokenize(spark, spec, true);
        spark.stop();
        Map<String, List<ShardRow>> out = new LinkedHashMap<>();
        for (Manifest.ShardFile f : manifest.shards()) {
            List<ShardRow> rows = out.computeIfAbsent(f.split(), k -> new ArrayList<>());
            ShardFormat.read(new LocalInputFile(work.resolve("shards").resolve(f.path())), rows::add);
        }
        out.values().forEach(rows -> rows.sort(Comparator.comparingLong(ShardRow::rowId)));
        return out;
    }

    private static List<String> concat(List<String> a, List<String> b) {
        List<String> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }

    private static Result train(Method method, long seed, PretrainedModel base, List<ShardRow> train, List<ShardRow> test, int epochs) {
        long t0 = System.nanoTime();
        int batchSize = 16;
        DataOrder order = new DataOrder(train.size(), batchSize, seed);
        int steps = epochs * ((train.size() + batchSize - 1) / batchSize);
        OptimizerConfig optimizer = new OptimizerConfig(OptimizerConfig.Kind.ADAMW, method.learningRate(), 0.9, 0.999, 1e-8, 0.01, 1.0,
                steps / 10, steps, OptimizerConfig.Decay.LINEAR, method.loraplusLrRatio());
        SequenceClassifier model = SequenceClassifier.create(base.config(), base.weights(), method.lora(), 2, SequenceClassifier.Pooling.MEAN, seed);
        try (Trainer trainer = new Trainer(model, optimizer)) {
            double early = 0;
            int earlySteps = Math.max(1, steps / 5);
            for (int g = 0; g < steps; g++) {
                double loss = trainer.step(Batches.pad(select(train, order.batch(g)), false)).loss();
                if (g < earlySteps) early += loss / earlySteps;
            }
            Trainer.Evaluation total = new Trainer.Evaluation(0, 0, 0);
            for (int i = 0; i < test.size(); i += 32) total = total.plus(trainer.score(Batches.pad(test.subList(i, Math.min(test.size(), i + 32)), false)));
            double accuracy = total.correct() / (double) total.examples();
            double seconds = (System.nanoTime() - t0) / 1e9;
            SparkJobs.progress("quality", "%s, seed %d: test accuracy %.4f, early training loss %.4f (%d steps, %.0f s)", method.name(), seed, accuracy,
                    early, steps, seconds);
            return new Result(method, seed, model.params().size(), accuracy, early, seconds);
        }
    }

    private static List<ShardRow> select(List<ShardRow> rows, int[] indices) {
        List<ShardRow> batch = new ArrayList<>(indices.length);
        for (int i : indices) batch.add(rows.get(i));
        return batch;
    }

    private static long bytes(PretrainedModel model) {
        return model.weights().asMap().values().stream().mapToLong(t -> t.length() * t.dataType().width()).sum();
    }

    private static double mb(long bytes) {
        return bytes / 1e6;
    }

    private static double seconds(List<Result> results) {
        return results.stream().mapToDouble(Result::seconds).average().orElse(Double.NaN);
    }

    private static String report(String command, List<Result> results, int trainRows, int testRows, int epochs, int seeds, double hours,
                                 long int8Bytes, long floatBytes) {
        Map<String, List<Result>> byMethod = new LinkedHashMap<>();
        for (Result r : results) byMethod.computeIfAbsent(r.method().name(), k -> new ArrayList<>()).add(r);
        long full = byMethod.get("full fine-tuning").get(0).trainable();
        StringBuilder s = new StringBuilder("# Quality: LoRA vs full fine-tuning on real data\n\n");
        s.append(BenchmarkReport.machine()).append(String.format(Locale.ROOT, ".%n%nCommand: `%s` (%.2f h on 2 threads).%n%n", command, hours));
        s.append(String.format(Locale.ROOT, "Frozen all-MiniLM-L6-v2 (mean-pooled, linear classifier head), IMDB sentiment: the first %,d reviews of the "
                + "training split and the first %,d of the test split (in id order; ids are hashes of the text), 128 tokens. Every run: %d epochs, "
                + "batch 16, AdamW (weight decay 0.01 on LoRA A/B), 10%% warm-up then linear decay, gradient clipping 1.0; LoRA alpha = 2r, "
                + "dropout 0.1; learning rate 2e-3 for the head and LoRA, 5e-5 for full fine-tuning. %d seeds (initialization, dropout and data "
                + "order). Sizes were chosen so that the study runs in under ~1 hour on 2 cores.%n%n", trainRows, testRows, epochs, seeds));
        s.append("| method | trainable params | % of full | test accuracy (mean ± std) | per seed | training loss, first fifth of the steps |\n"
                + "|---|---|---|---|---|---|\n");
        Map<String, double[]> stats = new LinkedHashMap<>();
        for (Map.Entry<String, List<Result>> e : byMethod.entrySet()) {
            double[] acc = e.getValue().stream().mapToDouble(Result::accuracy).toArray();
            double mean = java.util.Arrays.stream(acc).average().orElse(Double.NaN);
            double std = Math.sqrt(java.util.Arrays.stream(acc).map(a -> (a - mean) * (a - mean)).sum() / Math.max(1, acc.length - 1));
            double early = e.getValue().stream().mapToDouble(Result::earlyLoss).average().orElse(Double.NaN);
            stats.put(e.getKey(), new double[] {mean, std, early});
            long trainable = e.getValue().get(0).trainable();
            s.append(String.format(Locale.ROOT, "| %s | %,d | %.3f%% | %.4f ± %.4f | %s | %.4f |%n", e.getKey(), trainable, 100.0 * trainable / full, mean, std,
                    e.getValue().stream().map(r -> String.format(Locale.ROOT, "%.4f", r.accuracy())).toList(), early));
        }
        double[] lora = stats.get(LORA), ft = stats.get("full fine-tuning"), r1 = stats.get("LoRA r=1 {query, value}");
        double noise = Math.sqrt(lora[1] * lora[1] + ft[1] * ft[1]);
        s.append(String.format(Locale.ROOT, "%nThe paper's shape, checked on these numbers: LoRA r=8 on {query, value} vs full fine-tuning: %+.4f "
                + "(difference of means; 2 × the combined std is %.4f, so %s), at %.3f%% of the trainable parameters. r=1 vs r=8 on {query, value}: %+.4f.%n",
                lora[0] - ft[0], 2 * noise, Math.abs(lora[0] - ft[0]) <= 2 * noise ? "within noise" : "not within noise",
                100.0 * byMethod.get(LORA).get(0).trainable() / full, r1[0] - lora[0]));
        s.append(String.format(Locale.ROOT, "%nThe variants against plain LoRA r=8 on {query, value}, the same steps and trainable budget (DoRA adds "
                + "a magnitude per output row):%n"));
        compare(s, stats, LORA_PLUS_16, "the paper (Hayou et al. 2024) reports 1–2% better results and up to ~2× faster fine-tuning");
        compare(s, stats, LORA_PLUS_4, "the same claim at a smaller ratio");
        compare(s, stats, DORA, "the paper (Liu et al. 2024) reports DoRA ≥ LoRA at equal rank");
        compare(s, stats, PISSA, "the paper (Meng et al. 2024) reports faster convergence (a lower early loss) and better final results");
        compare(s, stats, OLORA, "the paper (Büyükakyüz 2024) reports faster convergence");
        compare(s, stats, INT8, String.format(Locale.ROOT, "the frozen weights take %.1f MB instead of %.1f (int8 projections, float embeddings), %.0f s per "
                + "run against %.0f", mb(int8Bytes), mb(floatBytes), seconds(byMethod.get(INT8)), seconds(byMethod.get(LORA))));
        return s.toString();
    }

    /** One line: a variant's accuracy and early loss against plain LoRA r=8 {query, value}, with what its paper claims. */
    private static void compare(StringBuilder s, Map<String, double[]> stats, String variant, String claim) {
        double[] lora = stats.get(LORA), v = stats.get(variant);
        double noise = 2 * Math.sqrt(lora[1] * lora[1] + v[1] * v[1]);
        s.append(String.format(Locale.ROOT, "- %s: accuracy %+.4f (2 × the combined std is %.4f, so %s), early training loss %+.4f; %s.%n", variant,
                v[0] - lora[0], noise, Math.abs(v[0] - lora[0]) <= noise ? "within noise" : v[0] > lora[0] ? "better" : "worse", v[2] - lora[2], claim));
    }
}
