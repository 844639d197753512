package io.lorafleet.spark;

import io.lorafleet.datasets.ByteRange;
import io.lorafleet.datasets.DatasetSpec;
import io.lorafleet.datasets.DatasetSpec.Objective;
import io.lorafleet.datasets.InputReader;
import io.lorafleet.datasets.Manifest;
import io.lorafleet.datasets.QuarantinedRow;
import io.lorafleet.datasets.RowTokenizer;
import io.lorafleet.datasets.ShardFormat;
import io.lorafleet.datasets.ShardRow;
import io.lorafleet.datasets.TextTokenizer;
import io.lorafleet.io.HfConfig;
import io.lorafleet.io.PretrainedModel;
import io.lorafleet.datasets.Sha256;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.hadoop.util.HadoopOutputFile;
import org.apache.spark.Partitioner;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.storage.StorageLevel;
import scala.Tuple2;

import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * {@code lorafleet tokenize --config dataset.yaml}: raw rows of many tasks → validated, tokenized Parquet
 * shards under {@code <output>/adapter_id=<id>/split=<split>/part-NNNNN.parquet}, bad rows to
 * {@code <output>/_quarantine} (Parquet) and {@code <output>/_quarantine.jsonl}, and {@code manifest.json} last.
 * Each input file (or byte range of a large one) is read in order by one Spark task, small files many to a task;
 * row ids follow (file name, line), so a re-run writes byte-identical shards. A run that fails leaves no
 * output and no temporary folder; when rows were quarantined, they are kept in {@code <output>.failed}.
 */
public final class TokenizeJob {
    private static final int LENGTH_BINS = 16;

    static final String USAGE = "lorafleet tokenize --config FILE [--set key=value ...] [--overwrite] [--take-over] [--dry-run]";

    public static void main(String[] args) {
        SparkJobs.configMain(USAGE, args, DatasetSpec::load, (spec, parsed) -> List.of(spec.output()), (spark, spec, parsed) -> {
            tokenize(spark, spec, parsed.overwrite());
            return 0;
        });
    }

    /** One input file (or one byte range of a large line-based file) of one task, and its bytes. */
    record InputRef(int task, String path, ByteRange range, long bytes) implements Serializable { }

    /**
     * What reading one input yields: a shard row, a quarantined row, or (once per input) the packing tail
     * dropped; {@code rangeStart} says which part of the file it came from.
     */
    record Outcome(ShardRow row, QuarantinedRow bad, long droppedTailTokens, long blankLines, long rangeStart) implements Serializable { }

    /** Rows of one adapter and split from one input range: the unit the job counts, numbers and places. */
    record RowGroup(String adapterId, String split, String source, long rangeStart) implements Serializable, Comparable<RowGroup> {
        private static final java.util.Comparator<RowGroup> ORDER = java.util.Comparator.comparing(RowGroup::adapterId)
                .thenComparing(RowGroup::split).thenComparing(RowGroup::source).thenComparingLong(RowGroup::rangeStart);

        static RowGroup of(Outcome o) {
            return new RowGroup(o.row().adapterId(), o.row().split(), o.row().source(), o.rangeStart());
        }

        @Override
        public int compareTo(RowGroup other) {
            return ORDER.compare(this, other);
        }
    }

    /** Bad rows are counted per task, reason and offending value (null for reasons without one). */
    record BadKey(int task, String reason, String value) implements Serializable { }

    private static final List<String> QUARANTINE = List.of("_quarantine", "_quarantine.jsonl");
    /** How many distinct offending values an error names per reason. */
    private static final int TOP_VALUES = 5;

    /** A written shard file with what the manifest needs from it. */
    record ShardStats(Manifest.ShardFile file, Map<String, Long> labels, long[] lengths) implements Serializable { }

    public static Manifest tokenize(SparkSession spark, DatasetSpec spec, boolean overwrite) throws IOException {
        long started = System.nanoTime();
        Configuration conf = spark.sparkContext().hadoopConfiguration();
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        try (OutputFolder out = OutputFolder.begin(spec.output(), conf, overwrite)) {
            Tokenizer tokenizer = Tokenizer.resolve(spec.tokenizer(), conf);
            try (TextTokenizer t = TextTokenizer.fromJson(tokenizer.json(), 64, tokenizer.source())) {
                RowTokenizer.checkRoom(spec, t);
            }
            List<InputRef> inputs = numberLines(sc, listInputs(spec, conf), hadoopConfOf(sc, conf));
            List<List<InputRef>> groups = group(inputs, spec.bytesPerSplit(), sc.defaultParallelism());
            SparkJobs.progress("tokenize", "%d inputs of %d tasks in %d Spark tasks → %s (tokenizer %s, max_length %d)", inputs.size(),
                    spec.tasks().size(), groups.size(), out.target(), tokenizer.source(), spec.maxLength());

            Broadcast<byte[]> tokenizerJson = sc.broadcast(tokenizer.json());
            Broadcast<HadoopConf> hadoop = hadoopConfOf(sc, conf);
            String tokenizerSource = tokenizer.source();
            JavaRDD<Outcome> outcomes = sc.parallelize(groups, groups.size()).flatMap(group -> {
                List<Outcome> results = new ArrayList<>();
                Map<Integer, TextTokenizer> byLength = new HashMap<>(); // the cache's key hashes the tokenizer.json: once per group, not per file
                for (InputRef ref : group) {
                    int length = RowTokenizer.encodeLength(spec, ref.task());
                    TextTokenizer t = byLength.get(length);
                    if (t == null) byLength.put(length, t = ExecutorCache.tokenizer(tokenizerJson.value(), length, tokenizerSource));
                    long at = ref.range().start();
                    RowTokenizer rows = new RowTokenizer(spec, ref.task(), t, r -> results.add(new Outcome(r, null, 0, 0, at)),
                            q -> results.add(new Outcome(null, q, 0, 0, at)));
                    long blank = InputReader.read(new HadoopSourceFile(ref.path(), hadoop.value().get()), ref.range(), spec.tasks().get(ref.task()),
                            rows::accept);
                    rows.finish();
                    results.add(new Outcome(null, null, rows.droppedTailTokens(), blank, at));
                }
                return results.iterator();
            }).persist(StorageLevel.MEMORY_AND_DISK_SER());

            Map<RowGroup, Long> goodCounts = outcomes.filter(o -> o.row() != null).mapToPair(o -> new Tuple2<>(RowGroup.of(o), 1L)).countByKey();
            Map<BadKey, Long> badCounts = outcomes.filter(o -> o.bad() != null)
                    .mapToPair(o -> new Tuple2<>(new BadKey(o.bad().task(), o.bad().reason(), null), 1L)).countByKey();
            List<Tuple2<BadKey, Long>> badValues = topValues(outcomes);
            long droppedTail = outcomes.map(Outcome::droppedTailTokens).fold(0L, Long::sum);
            long blank = outcomes.map(Outcome::blankLines).fold(0L, Long::sum);
            long good = goodCounts.values().stream().mapToLong(Long::longValue).sum();
            long bad = badCounts.values().stream().mapToLong(Long::longValue).sum();
            SparkJobs.progress("tokenize", "read %,d rows: %,d valid, %,d quarantined; %,d blank lines skipped (%.1f s)", good + bad, good, bad, blank,
                    seconds(started));

            Map<String, List<String>> labelNames = labelNames(spec, inputs, goodCounts);
            Map<String, Integer> maxLengths = maxLengths(spec, inputs, goodCounts);
            if (bad > 0) writeQuarantine(spark, outcomes.filter(o -> o.bad() != null).map(Outcome::bad), out);
            String problem = checkTasks(spec, inputs, goodCounts, badCounts, badValues);
            if (problem != null) {
                outcomes.unpersist();
                if (bad == 0) throw new IOException(problem);
                Path kept = out.abandonKeeping(QUARANTINE);
                throw new IOException(problem + "; the quarantined rows with their reasons are in " + new Path(kept, "_quarantine.jsonl"));
            }

            Plan plan = Plan.of(goodCounts, spec.rowsPerFile());
            Broadcast<Plan> planned = sc.broadcast(plan);
            String root = out.temp().toString();
            Broadcast<Map<String, List<String>>> labels = sc.broadcast(labelNames);
            List<ShardStats> shards = outcomes.filter(o -> o.row() != null)
                    .mapToPair(o -> planned.value().place(RowGroup.of(o), o.row()))
                    .partitionBy(new ExactPartitioner(plan.files().size()))
                    .mapPartitionsWithIndex((index, it) -> {
                        List<ShardRow> rows = new ArrayList<>();
                        it.forEachRemaining(t -> rows.add(t._2()));
                        if (rows.isEmpty()) return java.util.Collections.emptyIterator();
                        rows.sort(java.util.Comparator.comparingLong(ShardRow::rowId));
                        String relative = planned.value().files().get(index);
                        Path file = new Path(root, relative);
                        String sha = ShardFormat.write(HadoopOutputFile.fromPath(file, hadoop.value().get()), rows);
                        long bytes = file.getFileSystem(hadoop.value().get()).getFileStatus(file).getLen();
                        String adapter = rows.get(0).adapterId();
                        return List.of(stats(relative, rows, bytes, sha, labels.value().get(adapter), maxLengths.get(adapter))).iterator();
                    }, true).collect();
            outcomes.unpersist();

            Manifest manifest = manifest(spec, tokenizer, inputs, shards, labelNames, maxLengths, badCounts, good + bad, bad, blank, droppedTail,
                    bad == 0 ? null : QUARANTINE.get(0));
            out.commit();
            OutputFolder.writeFile(out.fileSystem(), new Path(out.target(), Manifest.FILE), manifest.toJson());
            if (out.fileSystem().exists(out.failed())) out.fileSystem().delete(out.failed(), true); // an earlier failed attempt's quarantine
            long tokens = shards.stream().mapToLong(s -> s.file().tokens()).sum();
            double secs = seconds(started);
            SparkJobs.progress("tokenize", "wrote %d shard files, %,d rows, %,d tokens for %d adapters in %.1f s (%,.0f rows/s, %,.0f tokens/s) → %s",
                    shards.size(), good, tokens, manifest.adapters().size(), secs, (good + bad) / secs, tokens / secs, out.target());
            return manifest;
        }
    }

    /**
     * Inputs grouped into Spark tasks of about equal bytes, in order: at least as many groups as the cluster has
     * cores (when there are that many inputs) and none much over bytes_per_split, so that thousands of small
     * files cost tens of tasks, not thousands.
     */
    static List<List<InputRef>> group(List<InputRef> inputs, long bytesPerSplit, int parallelism) {
        long left = inputs.stream().mapToLong(InputRef::bytes).sum();
        int groups = (int) Math.max(1, Math.min(inputs.size(), Math.max(parallelism, (left + bytesPerSplit - 1) / bytesPerSplit)));
        List<List<InputRef>> out = new ArrayList<>();
        List<InputRef> current = new ArrayList<>();
        long filled = 0;
        for (InputRef ref : inputs) {
            current.add(ref);
            filled += ref.bytes();
            int open = groups - out.size();
            if (open > 1 && filled >= (left + open - 1) / open) { // this group's share of what is left
                out.add(current);
                left -= filled;
                current = new ArrayList<>();
                filled = 0;
            }
        }
        if (!current.isEmpty()) out.add(current);
        return out;
    }

    /** The tokenizer.json to use, from a model folder (checked against its config's vocab_size) or a file. */
    record Tokenizer(byte[] json, String source, String sha256) {
        static Tokenizer resolve(String uri, Configuration conf) throws IOException {
            Path path = new Path(uri);
            FileSystem fs = path.getFileSystem(conf);
            if (!fs.exists(path)) throw new IOException("tokenizer: " + fs.makeQualified(path) + " does not exist");
            if (!fs.getFileStatus(path).isDirectory()) {
                byte[] json = SparkJobs.readFile(uri, conf);
                return new Tokenizer(json, fs.makeQualified(path).toString(), Sha256.of(json));
            }
            HadoopModelFiles model = new HadoopModelFiles(uri, conf);
            if (!model.exists(PretrainedModel.TOKENIZER)) throw new IOException(model.describe(PretrainedModel.TOKENIZER) + ": missing");
            byte[] json = model.readAll(PretrainedModel.TOKENIZER);
            String source = model.describe(PretrainedModel.TOKENIZER);
            if (model.exists(PretrainedModel.CONFIG)) {
                int vocab = HfConfig.parse(model.readAll(PretrainedModel.CONFIG), model.describe(PretrainedModel.CONFIG)).vocabSize();
                try (TextTokenizer t = TextTokenizer.fromJson(json, 2, source)) {
                    t.checkFits(vocab, model.describe(PretrainedModel.CONFIG));
                }
            }
            return new Tokenizer(json, source, Sha256.of(json));
        }
    }

    private static List<InputRef> listInputs(DatasetSpec spec, Configuration conf) throws IOException {
        List<InputRef> refs = new ArrayList<>();
        HashSet<String> seen = new HashSet<>();
        for (int t = 0; t < spec.tasks().size(); t++) {
            for (String pattern : spec.tasks().get(t).inputs()) {
                Path p = new Path(pattern);
                FileSystem fs = p.getFileSystem(conf);
                FileStatus[] matched = fs.globStatus(p);
                if (matched == null || matched.length == 0) throw new IOException("tasks[" + t + "].inputs: " + pattern + " matches no file");
                List<FileStatus> files = new ArrayList<>();
                for (FileStatus s : matched) {
                    if (s.isDirectory()) {
                        for (FileStatus child : fs.listStatus(s.getPath())) {
                            String name = child.getPath().getName();
                            if (child.isFile() && !name.startsWith(".") && !name.startsWith("_")) files.add(child);
                        }
                    } else {
                        files.add(s);
                    }
                }
                if (files.isEmpty()) throw new IOException("tasks[" + t + "].inputs: " + pattern + " holds no file");
                files.sort(java.util.Comparator.comparing(f -> f.getPath().toString()));
                boolean splittable = InputReader.splittable(spec.tasks().get(t).format());
                for (FileStatus status : files) {
                    String f = status.getPath().toString();
                    if (!seen.add(f)) throw new IOException("tasks[" + t + "].inputs: " + f + " is listed twice");
                    long length = status.getLen();
                    if (!splittable || length <= spec.bytesPerSplit() || !new HadoopSourceFile(f, conf).seekable()) {
                        refs.add(new InputRef(t, f, ByteRange.WHOLE, length));
                        continue;
                    }
                    for (long start = 0; start < length; start += spec.bytesPerSplit()) {
                        long end = Math.min(length, start + spec.bytesPerSplit());
                        refs.add(new InputRef(t, f, new ByteRange(start, end, 0), end - start));
                    }
                }
            }
        }
        return refs;
    }

    /** Gives each range of a split file the number of its first line, from a parallel count of line starts. */
    private static List<InputRef> numberLines(JavaSparkContext sc, List<InputRef> refs, Broadcast<HadoopConf> hadoop) {
        List<InputRef> ranges = refs.stream().filter(r -> !r.range().whole()).toList();
        if (ranges.isEmpty()) return refs;
        List<Long> starts = sc.parallelize(ranges, ranges.size())
                .map(r -> InputReader.countLineStarts(new HadoopSourceFile(r.path(), hadoop.value().get()), r.range().start(), r.range().end()))
                .collect();
        Map<InputRef, Long> lineStarts = new HashMap<>();
        for (int i = 0; i < ranges.size(); i++) lineStarts.put(ranges.get(i), starts.get(i));
        List<InputRef> numbered = new ArrayList<>();
        Map<String, Long> nextLine = new HashMap<>();
        for (InputRef r : refs) {
            if (r.range().whole()) {
                numbered.add(r);
                continue;
            }
            long first = nextLine.getOrDefault(r.path(), 1L);
            numbered.add(new InputRef(r.task(), r.path(), new ByteRange(r.range().start(), r.range().end(), first), r.bytes()));
            nextLine.put(r.path(), first + lineStarts.get(r));
        }
        return numbered;
    }

    private static Broadcast<HadoopConf> hadoopConfOf(JavaSparkContext sc, Configuration conf) {
        return sc.broadcast(new HadoopConf(conf));
    }

    /**
     * What to fix when a task has no valid rows or too many bad ones, naming each reason's most frequent
     * offending values (an unknown label, a split value); null when every task is fine.
     */
    private static String checkTasks(DatasetSpec spec, List<InputRef> inputs, Map<RowGroup, Long> goodCounts, Map<BadKey, Long> badCounts,
                                     List<Tuple2<BadKey, Long>> badValues) {
        Map<Integer, Long> goodByTask = new HashMap<>();
        Map<String, Integer> taskOfSource = taskOfSource(inputs);
        goodCounts.forEach((group, n) -> goodByTask.merge(taskOfSource.get(group.source()), n, Long::sum));
        Map<Integer, Map<String, Long>> badByTask = new HashMap<>();
        badCounts.forEach((key, n) -> badByTask.computeIfAbsent(key.task(), k -> new TreeMap<>()).merge(key.reason(), n, Long::sum));
        for (int t = 0; t < spec.tasks().size(); t++) {
            long ok = goodByTask.getOrDefault(t, 0L);
            Map<String, Long> reasons = badByTask.getOrDefault(t, Map.of());
            long rejected = reasons.values().stream().mapToLong(Long::longValue).sum();
            String name = "tasks[" + t + "]" + (spec.tasks().get(t).adapterId() != null ? " (" + spec.tasks().get(t).adapterId() + ")" : "");
            double fraction = rejected / (double) (ok + rejected);
            if (ok == 0) return name + ": no valid rows (" + rejected + " quarantined: " + describe(t, reasons, badValues) + ")";
            if (fraction > spec.maxBadFraction()) {
                return String.format("%s: %d of %d rows (%.1f%%) are bad: %s; above max_bad_fraction %s", name, rejected, ok + rejected,
                        100 * fraction, describe(t, reasons, badValues), spec.maxBadFraction());
            }
        }
        return null;
    }

    /**
     * The most frequent offending values (unknown labels and splits) with their counts, most frequent first: counted
     * on the executors, and only the top ones come to the driver, however many distinct values there are.
     */
    private static List<Tuple2<BadKey, Long>> topValues(JavaRDD<Outcome> outcomes) {
        return outcomes.filter(o -> o.bad() != null && o.bad().value() != null)
                .mapToPair(o -> new Tuple2<>(new BadKey(o.bad().task(), o.bad().reason(), o.bad().value()), 1L))
                .reduceByKey(Long::sum)
                .takeOrdered(TOP_VALUES * 20, new MostFrequentFirst());
    }

    /** Higher counts first, then by value, so that the error names the same values on every run. */
    private static final class MostFrequentFirst implements java.util.Comparator<Tuple2<BadKey, Long>>, Serializable {
        @Override
        public int compare(Tuple2<BadKey, Long> a, Tuple2<BadKey, Long> b) {
            int byCount = Long.compare(b._2(), a._2());
            return byCount != 0 ? byCount : a._1().value().compareTo(b._1().value());
        }
    }

    /** "unknown_label 1400 ('other' ×1200, 'misc' ×200), empty_text 3" */
    private static String describe(int task, Map<String, Long> reasons, List<Tuple2<BadKey, Long>> badValues) {
        List<String> parts = new ArrayList<>();
        reasons.forEach((reason, n) -> {
            List<Tuple2<BadKey, Long>> values = badValues.stream().filter(v -> v._1().task() == task && v._1().reason().equals(reason)).toList();
            StringBuilder part = new StringBuilder(reason + " " + n);
            if (!values.isEmpty()) {
                part.append(" (");
                for (int i = 0; i < Math.min(TOP_VALUES, values.size()); i++) {
                    part.append(i == 0 ? "" : ", ").append('\'').append(values.get(i)._1().value()).append("' ×").append(values.get(i)._2());
                }
                part.append(values.size() > TOP_VALUES ? ", …)" : ")");
            }
            parts.add(part.toString());
        });
        return String.join(", ", parts);
    }

    /** The quarantine, ordered by (source, line): a Parquet folder for Spark, and JSON lines a person can read. */
    private static void writeQuarantine(SparkSession spark, JavaRDD<QuarantinedRow> bad, OutputFolder out) throws IOException {
        StructType schema = new StructType()
                .add("task", DataTypes.IntegerType, false).add("adapter_id", DataTypes.StringType, true)
                .add("source", DataTypes.StringType, false).add("line", DataTypes.LongType, false)
                .add("reason", DataTypes.StringType, false).add("detail", DataTypes.StringType, true)
                .add("value", DataTypes.StringType, true).add("raw", DataTypes.StringType, true);
        JavaRDD<Row> rows = bad.map(q -> RowFactory.create(q.task(), q.adapterId(), q.source(), q.line(), q.reason(), q.detail(), q.value(), q.raw()));
        spark.createDataFrame(rows, schema).orderBy("source", "line").coalesce(1).write().option("compression", "zstd")
                .parquet(new Path(out.temp(), QUARANTINE.get(0)).toString());
        try (java.io.Writer w = new java.io.OutputStreamWriter(out.fileSystem().create(new Path(out.temp(), QUARANTINE.get(1)), false),
                java.nio.charset.StandardCharsets.UTF_8)) {
            var it = bad.sortBy(q -> q.source() + "\u0000" + String.format("%019d", q.line()), true, bad.getNumPartitions()).toLocalIterator();
            while (it.hasNext()) w.write(io.lorafleet.datasets.YamlConfig.jsonLine(it.next()) + "\n");
        }
    }

    /** Class names per adapter, in id order; an adapter fed by several tasks must get one label list from them. */
    private static Map<String, List<String>> labelNames(DatasetSpec spec, List<InputRef> inputs, Map<RowGroup, Long> goodCounts) throws IOException {
        Map<String, Integer> taskOfSource = taskOfSource(inputs);
        Map<String, List<String>> names = new TreeMap<>();
        for (RowGroup group : goodCounts.keySet()) {
            List<String> labels = spec.tasks().get(taskOfSource.get(group.source())).labels();
            List<String> l = labels == null ? List.of() : labels;
            List<String> before = names.putIfAbsent(group.adapterId(), l);
            if (before != null && !before.equals(l)) {
                throw new IOException("adapter " + group.adapterId() + ": its tasks give different label lists " + before + " and " + l);
            }
        }
        return names;
    }

    /** The longest row each adapter may have: the largest max_length of the tasks that feed it. */
    private static Map<String, Integer> maxLengths(DatasetSpec spec, List<InputRef> inputs, Map<RowGroup, Long> goodCounts) {
        Map<String, Integer> taskOfSource = taskOfSource(inputs);
        Map<String, Integer> lengths = new TreeMap<>();
        for (RowGroup group : goodCounts.keySet()) lengths.merge(group.adapterId(), spec.maxLength(taskOfSource.get(group.source())), Math::max);
        return lengths;
    }

    private static Map<String, Integer> taskOfSource(List<InputRef> inputs) {
        Map<String, Integer> task = new HashMap<>();
        for (InputRef ref : inputs) task.put(ref.path(), ref.task());
        return task;
    }

    private static ShardStats stats(String relative, List<ShardRow> rows, long bytes, String sha, List<String> labelNames, int maxLength) {
        Map<String, Long> labels = new TreeMap<>();
        long[] lengths = new long[LENGTH_BINS];
        int width = binWidth(maxLength);
        long tokens = 0;
        for (ShardRow r : rows) {
            tokens += r.length();
            lengths[Math.min(LENGTH_BINS - 1, r.length() / width)]++;
            if (r.label() >= 0) labels.merge(labelNames.get(r.label()), 1L, Long::sum);
        }
        ShardRow first = rows.get(0);
        return new ShardStats(new Manifest.ShardFile(relative, first.adapterId(), first.split(), rows.size(), tokens, bytes, sha), labels, lengths);
    }

    private static int binWidth(int maxLength) {
        return Math.max(1, (maxLength + LENGTH_BINS) / LENGTH_BINS);
    }

    private static Manifest manifest(DatasetSpec spec, Tokenizer tokenizer, List<InputRef> inputs, List<ShardStats> shards,
                                     Map<String, List<String>> labelNames, Map<String, Integer> maxLengths, Map<BadKey, Long> badCounts, long read,
                                     long bad, long blank, long droppedTail, String quarantine) throws IOException {
        Map<String, Manifest.AdapterStats> adapters = new TreeMap<>();
        List<ShardStats> sorted = new ArrayList<>(shards);
        sorted.sort(java.util.Comparator.comparing(s -> s.file().path()));
        Map<String, Map<String, Long>> rows = new TreeMap<>(), tokens = new TreeMap<>();
        Map<String, Map<String, Map<String, Long>>> hist = new TreeMap<>();
        Map<String, long[]> lengths = new TreeMap<>();
        for (ShardStats s : sorted) {
            String a = s.file().adapterId(), split = s.file().split();
            rows.computeIfAbsent(a, k -> new TreeMap<>()).merge(split, s.file().rows(), Long::sum);
            tokens.computeIfAbsent(a, k -> new TreeMap<>()).merge(split, s.file().tokens(), Long::sum);
            Map<String, Long> h = hist.computeIfAbsent(a, k -> new TreeMap<>()).computeIfAbsent(split, k -> new TreeMap<>());
            s.labels().forEach((label, n) -> h.merge(label, n, Long::sum));
            long[] l = lengths.computeIfAbsent(a, k -> new long[LENGTH_BINS]);
            for (int i = 0; i < LENGTH_BINS; i++) l[i] += s.lengths()[i];
        }
        for (String a : rows.keySet()) {
            adapters.put(a, new Manifest.AdapterStats(labelNames.getOrDefault(a, List.of()), rows.get(a), tokens.get(a), hist.get(a),
                    binWidth(maxLengths.get(a)), java.util.Arrays.stream(lengths.get(a)).boxed().toList(), maxLengths.get(a)));
        }
        Map<String, Long> dropped = new TreeMap<>();
        badCounts.forEach((key, n) -> dropped.merge(key.reason(), n, Long::sum));
        return new Manifest(Manifest.FORMAT_VERSION, spec.objective().name().toLowerCase(java.util.Locale.ROOT), tokenizer.source(),
                tokenizer.sha256(), TextTokenizer.fingerprint(tokenizer.json(), tokenizer.source()), spec.maxLength(), inputs.stream().map(InputRef::path).distinct().toList(), adapters, read, bad, blank, dropped, droppedTail,
                quarantine, sorted.stream().map(ShardStats::file).toList());
    }

    private static double seconds(long since) {
        return (System.nanoTime() - since) / 1e9;
    }

    /**
     * Which shard file each row goes to: rows of an (adapter, split) are numbered in (source file, byte
     * range, line) order and cut into files of rows_per_file.
     */
    record Plan(Map<RowGroup, Long> offsets, List<String> files, Map<String, Integer> fileIndex, int rowsPerFile) implements Serializable {
        static Plan of(Map<RowGroup, Long> counts, int rowsPerFile) {
            Map<RowGroup, Long> offsets = new HashMap<>();
            Map<List<String>, Long> totals = new java.util.LinkedHashMap<>();
            for (RowGroup g : new java.util.TreeSet<>(counts.keySet())) {
                List<String> key = List.of(g.adapterId(), g.split());
                long before = totals.getOrDefault(key, 0L);
                offsets.put(g, before);
                totals.put(key, before + counts.get(g));
            }
            List<String> files = new ArrayList<>();
            Map<String, Integer> index = new HashMap<>();
            totals.forEach((key, total) -> {
                for (long f = 0; f * rowsPerFile < total; f++) {
                    String path = fileName(key.get(0), key.get(1), f);
                    index.put(path, files.size());
                    files.add(path);
                }
            });
            return new Plan(offsets, files, index, rowsPerFile);
        }

        Tuple2<Integer, ShardRow> place(RowGroup group, ShardRow row) {
            long id = offsets.get(group) + row.rowId();
            return new Tuple2<>(fileIndex.get(fileName(group.adapterId(), group.split(), id / rowsPerFile)), row.withRowId(id));
        }

        static String fileName(String adapterId, String split, long index) {
            return String.format("adapter_id=%s/split=%s/part-%05d.parquet", adapterId, split, index);
        }
    }

    /** Partition i holds exactly the rows keyed i. */
    static final class ExactPartitioner extends Partitioner {
        private final int partitions;

        ExactPartitioner(int partitions) {
            this.partitions = Math.max(1, partitions);
        }

        @Override
        public int numPartitions() {
            return partitions;
        }

        @Override
        public int getPartition(Object key) {
            return (Integer) key;
        }
    }
}
