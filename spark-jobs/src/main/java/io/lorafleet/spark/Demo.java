package io.lorafleet.spark;

import io.lorafleet.datasets.DatasetSpec;
import io.lorafleet.datasets.YamlConfig;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code lorafleet demo}: the whole pipeline on the embedded real data in one local Spark session — tokenize
 * (conf/demo-tokenize.yaml), train every adapter together (conf/demo-train.yaml), export them in PEFT
 * format, evaluate each on its test split — and print where the report is and each adapter's test accuracy.
 * The demo's own outputs are replaced on every run.
 */
public final class Demo {
    private Demo() { }

    static final String USAGE = "lorafleet demo --config TOKENIZE_YAML,TRAIN_YAML [--set key=value ...] [--dry-run]";

    public static void main(String[] args) {
        SparkJobs.main(USAGE, args, line -> {
            JobArgs parsed = JobArgs.of(line);
            String[] configs = parsed.config().split(",");
            if (configs.length != 2) throw line.problem("--config takes two files: TOKENIZE_YAML,TRAIN_YAML");
            Configuration local = SparkJobs.hadoopConf();
            DatasetSpec tokenize = DatasetSpec.load(SparkJobs.readFile(configs[0], local), configs[0], List.of());
            TrainConfig train = TrainConfig.load(SparkJobs.readFile(configs[1], local), configs[1], parsed.overrides());
            if (parsed.dryRun()) {
                System.out.print(YamlConfig.toYaml(tokenize) + YamlConfig.toYaml(train));
                return 0;
            }
            SparkSession spark = SparkJobs.session("demo");
            // the demo replaces its own outputs on every run: a dead demo's stale lease is taken over, a live one refused
            try (OutputLease lease = OutputLease.acquire("demo", List.of(tokenize.output(), train.output(), train.checkpoints(), train.report()),
                    spark.sparkContext().hadoopConfiguration(), true)) {
                Map<String, Object> test = run(spark, tokenize, train);
                return test.values().stream().allMatch(m -> m instanceof Map) ? 0 : SparkJobs.PARTIAL_FAILURE;
            } finally {
                spark.stop();
            }
        });
    }

    /** Per adapter, its test-split metrics (or why there are none); also written to {@code <report>/test-metrics.json}. */
    static Map<String, Object> run(SparkSession spark, DatasetSpec tokenize, TrainConfig train) throws IOException {
        Configuration conf = spark.sparkContext().hadoopConfiguration();
        TokenizeJob.tokenize(spark, tokenize, true);
        List<AdapterRun> runs = TrainJob.train(spark, train, true, false);
        TrainConfig c = train.qualified(conf);
        Map<String, Object> test = new LinkedHashMap<>();
        for (AdapterRun run : runs) {
            if (run.status() != AdapterRun.Status.DONE) {
                test.put(run.adapter(), run.status() + ": " + run.failure());
                continue;
            }
            test.put(run.adapter(), EvalAdapter.run(new String[] {"--model", c.model(), "--adapter", run.path(), "--data", c.shards(), "--split", "test"}, conf));
        }
        Path out = new Path(c.report(), "test-metrics.json");
        OutputFolder.writeFile(out.getFileSystem(conf), out, YamlConfig.json().writeValueAsBytes(test));
        SparkJobs.progress("demo", "report: %s", new Path(c.report(), RunReport.HTML));
        for (Map.Entry<String, Object> e : test.entrySet()) {
            SparkJobs.progress("demo", "%s: %s", e.getKey(), e.getValue() instanceof Map<?, ?> m
                    ? String.format("test accuracy %.4f, macro-F1 %.4f on %s rows (adapter in %s)", ((Number) m.get("accuracy")).doubleValue(),
                    ((Number) m.get("macro_f1")).doubleValue(), m.get("examples"), new Path(c.output(), e.getKey()))
                    : e.getValue());
        }
        return test;
    }
}
