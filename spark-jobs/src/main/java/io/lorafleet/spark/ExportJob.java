package io.lorafleet.spark;

/** {@code lorafleet export --config train.yaml [--to URI] [--overwrite]}: PEFT folders again from a train run's final checkpoints. */
public final class ExportJob {
    static final String USAGE = "lorafleet export --config FILE [--set key=value ...] [--to URI] [--overwrite] [--take-over] [--dry-run]";

    public static void main(String[] args) {
        SparkJobs.configMain(USAGE, args, TrainConfig::load, (config, parsed) -> TrainJob.writes(config, parsed.line().value("--to", config.output()), false),
                (spark, config, parsed) -> {
            TrainJob.export(spark, config, parsed.line().value("--to", null), parsed.overwrite());
            return 0;
        });
    }
}
