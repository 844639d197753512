package io.lorafleet.spark;

/** {@code lorafleet export --config train.yaml [--set output=URI] [--overwrite]}: PEFT folders from the final checkpoints. */
public final class ExportJob {
    public static void main(String[] args) {
        SparkJobs.configMain("export", args, TrainConfig::load, (spark, config, parsed) -> {
            TrainJob.export(spark, config, parsed.overwrite());
            return 0;
        });
    }
}
