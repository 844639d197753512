package io.lorafleet.spark;

import java.util.ArrayList;
import java.util.List;

/** The command line every job takes: {@code --config FILE [--set key=value ...] [--overwrite] [--resume] [--dry-run]}. */
public record JobArgs(String config, List<String> overrides, boolean overwrite, boolean resume, boolean dryRun) {
    public static JobArgs parse(String job, String[] args) {
        String config = null;
        List<String> sets = new ArrayList<>();
        boolean overwrite = false, resume = false, dryRun = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--config" -> config = value(job, args, ++i);
                case "--set" -> sets.add(value(job, args, ++i));
                case "--overwrite" -> overwrite = true;
                case "--resume" -> resume = true;
                case "--dry-run" -> dryRun = true;
                default -> throw new IllegalArgumentException(job + ": unknown argument " + args[i]
                        + "\nusage: lorafleet " + job + " --config FILE [--set key=value ...] [--overwrite] [--resume] [--dry-run]");
            }
        }
        if (config == null) throw new IllegalArgumentException(job + ": --config FILE is required");
        if (overwrite && resume) throw new IllegalArgumentException(job + ": --overwrite and --resume exclude each other");
        return new JobArgs(config, List.copyOf(sets), overwrite, resume, dryRun);
    }

    private static String value(String job, String[] args, int i) {
        if (i >= args.length) throw new IllegalArgumentException(job + ": " + args[i - 1] + " needs a value");
        return args[i];
    }
}
