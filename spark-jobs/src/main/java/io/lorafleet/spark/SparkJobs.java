package io.lorafleet.spark;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.SparkConf;
import org.apache.spark.sql.SparkSession;

import java.io.IOException;
import java.time.LocalTime;
import java.time.format.DateTimeFormatter;
import java.util.List;

/** What every job main shares: the session (local[*] unless spark-submit chose a master), file reads, progress lines. */
public final class SparkJobs {
    private static final DateTimeFormatter CLOCK = DateTimeFormatter.ofPattern("HH:mm:ss");

    private SparkJobs() { }

    public static SparkSession session(String appName) {
        SparkConf conf = new SparkConf();
        SparkSession.Builder builder = SparkSession.builder().appName("lorafleet " + appName)
                .config("spark.hadoop." + LOCAL_FILE_SYSTEM, LocalFileSystemWithoutCrc.class.getName());
        if (!conf.contains("spark.master")) builder.master("local[*]").config("spark.ui.enabled", "false");
        return builder.getOrCreate();
    }

    /** The Hadoop setting that makes {@code file://} write no .crc sidecar files ({@link LocalFileSystemWithoutCrc}). */
    static final String LOCAL_FILE_SYSTEM = "fs.file.impl";

    /** The Hadoop configuration of a job that runs without Spark (eval, merge) or before its session starts. */
    public static Configuration hadoopConf() {
        Configuration conf = new Configuration();
        conf.set(LOCAL_FILE_SYSTEM, LocalFileSystemWithoutCrc.class.getName());
        return conf;
    }

    /** A configuration, tokenizer or metadata file, whole (at most 256 MB: anything larger is not one). */
    public static byte[] readFile(String uri, Configuration conf) throws IOException {
        return readFile(uri, conf, 256L << 20, "a configuration or tokenizer file");
    }

    /** A whole file of at most {@code maxBytes}; {@code what} says what it should be, for the error. */
    public static byte[] readFile(String uri, Configuration conf, long maxBytes, String what) throws IOException {
        Path path = new Path(uri);
        FileSystem fs = path.getFileSystem(conf);
        long length = fs.getFileStatus(path).getLen();
        if (length > maxBytes) throw new IOException(uri + ": " + length + " bytes is too large for " + what);
        byte[] bytes = new byte[(int) length];
        try (FSDataInputStream in = fs.open(path)) {
            in.readFully(0, bytes);
        }
        return bytes;
    }

    /** A progress line for the person watching: our lines stay visible when Spark's logging is quiet. */
    public static void progress(String job, String format, Object... args) {
        System.out.println("[" + LocalTime.now().format(CLOCK) + " lorafleet " + job + "] " + String.format(format, args));
        System.out.flush();
    }

    /** Exit code of a run where some parts (adapters) failed and the others are complete. */
    public static final int PARTIAL_FAILURE = 3;

    /** This build's version (from lorafleet-version.properties), for provenance and reports. */
    static String version() {
        try (var in = SparkJobs.class.getResourceAsStream("/lorafleet-version.properties")) {
            java.util.Properties p = new java.util.Properties();
            if (in != null) p.load(in);
            return p.getProperty("version", "unknown");
        } catch (java.io.IOException e) {
            return "unknown";
        }
    }

    /**
     * Runs a job main: checks the arguments against the job's usage line, runs the body, and turns a failure into
     * one clear line. Exit code: the body's (0 success, 3 partial failure), 1 on failure, 2 for a command line the
     * job cannot run, 0 for --help.
     */
    public static void main(String usage, String[] args, JobBody body) {
        int code;
        try {
            code = body.run(CommandLine.parse(usage, args));
        } catch (CommandLine.UsageException e) {
            (e.help() ? System.out : System.err).println(e.getMessage());
            code = e.help() ? 0 : 2;
        } catch (Exception e) {
            System.err.println("lorafleet " + CommandLine.job(usage) + ": failed: " + cause(e));
            if ("full".equals(System.getenv("LORAFLEET_TRACES"))) e.printStackTrace();
            code = 1;
        }
        System.exit(code);
    }

    /**
     * What went wrong, in one line that names the file, key or value: our own message, with the innermost cause's
     * added when it says something the outer one does not; for a failed Spark job (which wraps the task's exception
     * with the executor's stack trace pasted into its message) the task's cause alone.
     */
    static String cause(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) root = root.getCause();
        String inner = firstLine(root);
        if (e instanceof org.apache.spark.SparkException || e == root) return inner;
        String outer = firstLine(e);
        return outer.contains(inner) ? outer : outer + " (" + inner + ")";
    }

    private static String firstLine(Throwable t) {
        String message = t.getMessage() == null ? t.getClass().getName() : t.getMessage();
        return message.lines().findFirst().orElse(message);
    }

    @FunctionalInterface
    public interface JobBody {
        int run(CommandLine args) throws Exception;
    }

    /** Reads a job's config: YAML bytes, their source, and the --set overrides. */
    @FunctionalInterface
    public interface ConfigLoader<C> {
        C load(byte[] yaml, String source, java.util.List<String> overrides) throws java.io.IOException;
    }

    /** Where a job writes, given its config and command line: each location is leased for the job's time. */
    @FunctionalInterface
    public interface Outputs<C> {
        List<String> of(C config, JobArgs args);
    }

    /** A job's work in a session; returns the process exit code (0 success, 3 partial failure). */
    @FunctionalInterface
    public interface SessionBody<C> {
        int run(SparkSession spark, C config, JobArgs args) throws Exception;
    }

    /**
     * A job main over one YAML config: --dry-run prints the resolved config; otherwise the body runs in a session,
     * holding the leases of the job's outputs (a second job writing there fails before any work).
     */
    public static <C> void configMain(String usage, String[] args, ConfigLoader<C> loader, Outputs<C> outputs, SessionBody<C> body) {
        main(usage, args, line -> {
            JobArgs parsed = JobArgs.of(line);
            C config = loader.load(readFile(parsed.config(), hadoopConf()), parsed.config(), parsed.overrides());
            if (parsed.dryRun()) {
                System.out.print(io.lorafleet.datasets.YamlConfig.toYaml(config));
                return 0;
            }
            String job = CommandLine.job(usage);
            SparkSession spark = session(job);
            // --resume continues a run that died: it may take that run's dead leases (never a live one)
            try (OutputLease lease = OutputLease.acquire(job, outputs.of(config, parsed), spark.sparkContext().hadoopConfiguration(),
                    parsed.takeOver() || parsed.resume())) {
                return body.run(spark, config, parsed);
            } finally {
                spark.stop();
            }
        });
    }
}
