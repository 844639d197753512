package io.lorafleet.spark;

import io.lorafleet.datasets.YamlConfig;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.SparkSession;

/** {@code lorafleet export --config train.yaml [--set output=URI] [--overwrite]}: PEFT folders from the final checkpoints. */
public final class ExportJob {
    public static void main(String[] args) {
        SparkJobs.main("export", args, parsed -> {
            TrainConfig config = TrainConfig.load(SparkJobs.readFile(parsed.config(), new Configuration()), parsed.config(), parsed.overrides());
            if (parsed.dryRun()) {
                System.out.print(YamlConfig.toYaml(config));
                return 0;
            }
            SparkSession spark = SparkJobs.session("export");
            try {
                TrainJob.export(spark, config, parsed.overwrite());
            } finally {
                spark.stop();
            }
            return 0;
        });
    }
}
