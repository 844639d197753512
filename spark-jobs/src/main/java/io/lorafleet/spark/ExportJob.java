package io.lorafleet.spark;

/** {@code lorafleet export --config train.yaml [--set output=URI] [--overwrite]}: PEFT folders from the final checkpoints. */
public final class ExportJob {
    static final String USAGE = "lorafleet export --config FILE [--set key=value ...] [--overwrite] [--dry-run]";

    public static void main(String[] args) {
        SparkJobs.configMain(USAGE, args, TrainConfig::load, (spark, config, parsed) -> {
            TrainJob.export(spark, config, parsed.overwrite());
            return 0;
        });
    }
}
