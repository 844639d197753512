package io.lorafleet.spark;

import java.util.List;

/**
 * The command line of a job over one YAML config: {@code --config FILE [--set key=value ...]}, the flags its usage
 * line names, and the line itself for options of the job's own (export's --to).
 */
public record JobArgs(String config, List<String> overrides, boolean overwrite, boolean resume, boolean dryRun, boolean takeOver,
                      CommandLine line) {
    public static JobArgs of(CommandLine line) {
        if (line.flag("--overwrite") && line.flag("--resume")) throw line.problem("--overwrite and --resume exclude each other");
        return new JobArgs(line.value("--config", null), List.copyOf(line.values("--set")), line.flag("--overwrite"), line.flag("--resume"),
                line.flag("--dry-run"), line.flag("--take-over"), line);
    }
}
