package io.lorafleet.spark;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A job's arguments, checked against the job's usage line: the options the line names are the options the
 * job takes, so the help a user reads and the parser cannot disagree. In the line, {@code --name VALUE}
 * takes a value, {@code --name} alone is a flag, an option inside {@code [...]} may be left out and one
 * followed by {@code ...} may repeat, e.g. {@code lorafleet eval --model DIR [--split test] [--set k=v ...]}.
 */
public final class CommandLine {
    /** A command line the job cannot run (exit code 2), or a request for its usage ({@code --help}, exit code 0). */
    public static final class UsageException extends IllegalArgumentException {
        private final boolean help;

        UsageException(String message, boolean help) {
            super(message);
            this.help = help;
        }

        public boolean help() {
            return help;
        }
    }

    private record Option(String name, boolean takesValue, boolean required, boolean repeats) { }

    private final String usage;
    private final Map<String, List<String>> given;

    private CommandLine(String usage, Map<String, List<String>> given) {
        this.usage = usage;
        this.given = given;
    }

    /** @param usage the job's one-line synopsis, {@code lorafleet JOB --option VALUE [--flag] ...} */
    public static CommandLine parse(String usage, String[] args) {
        Map<String, Option> options = new LinkedHashMap<>();
        for (Option o : optionsOf(usage)) options.put(o.name(), o);
        Map<String, List<String>> given = new LinkedHashMap<>();
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (arg.equals("--help") || arg.equals("-h")) throw new UsageException("usage: " + usage, true);
            Option o = options.get(arg);
            if (o == null) throw problem(usage, "unknown argument " + arg);
            if (given.containsKey(arg) && !o.repeats()) throw problem(usage, arg + " is given twice");
            String value = "";
            if (o.takesValue()) {
                if (i + 1 >= args.length) throw problem(usage, arg + " needs a value");
                value = args[++i];
            }
            given.computeIfAbsent(arg, k -> new ArrayList<>()).add(value);
        }
        for (Option o : options.values()) {
            if (o.required() && !given.containsKey(o.name())) throw problem(usage, o.name() + " is required");
        }
        return new CommandLine(usage, given);
    }

    /** The value of an option, or {@code fallback} when it was not given. */
    public String value(String option, String fallback) {
        List<String> values = given.get(option);
        return values == null ? fallback : values.get(0);
    }

    public List<String> values(String option) {
        return given.getOrDefault(option, List.of());
    }

    public boolean flag(String option) {
        return given.containsKey(option);
    }

    /** A problem with the arguments as a whole (two options that exclude each other, a value out of range). */
    public UsageException problem(String message) {
        return problem(usage, message);
    }

    private static UsageException problem(String usage, String message) {
        return new UsageException("lorafleet " + job(usage) + ": " + message + "\nusage: " + usage, false);
    }

    /** The job a usage line is for: {@code train} in {@code lorafleet train --config FILE ...}. */
    static String job(String usage) {
        return usage.trim().split("\\s+")[1];
    }

    private static List<Option> optionsOf(String usage) {
        String[] tokens = usage.trim().split("\\s+");
        List<Option> options = new ArrayList<>();
        int depth = 0;
        for (int i = 0; i < tokens.length; i++) {
            String token = tokens[i];
            depth += count(token, '[');
            String name = token.replace("[", "").replace("]", "");
            if (name.startsWith("--")) {
                String next = i + 1 < tokens.length ? tokens[i + 1] : "";
                boolean takesValue = !token.endsWith("]") && !next.isEmpty() && !next.startsWith("--") && !next.startsWith("[") && !next.equals("|");
                boolean repeats = takesValue && i + 2 < tokens.length && tokens[i + 2].startsWith("...");
                options.add(new Option(name, takesValue, depth == 0, repeats));
            }
            depth -= count(token, ']');
        }
        return options;
    }

    private static int count(String s, char c) {
        return (int) s.chars().filter(ch -> ch == c).count();
    }
}
