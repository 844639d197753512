package io.lorafleet.spark;

import io.lorafleet.datasets.ByteRange;
import io.lorafleet.datasets.ChatTemplate;
import io.lorafleet.datasets.DatasetSpec;
import io.lorafleet.datasets.InputReader;
import io.lorafleet.datasets.InputRef;
import io.lorafleet.datasets.Manifest;
import io.lorafleet.datasets.QuarantinedRow;
import io.lorafleet.datasets.ReadCounts;
import io.lorafleet.datasets.ReadCounts.BadCount;
import io.lorafleet.datasets.ReadCounts.BadKey;
import io.lorafleet.datasets.RowTokenizer;
import io.lorafleet.datasets.ShardFormat;
import io.lorafleet.datasets.ShardPlan;
import io.lorafleet.datasets.ShardPlan.RowGroup;
import io.lorafleet.datasets.ShardRow;
import io.lorafleet.datasets.ShardStats;
import io.lorafleet.datasets.TextTokenizer;
import io.lorafleet.io.HfConfig;
import io.lorafleet.io.PretrainedModel;
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
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;

/**
 * {@code lorafleet tokenize --config dataset.yaml}: raw rows of many tasks → validated, tokenized Parquet
 * shards under {@code <output>/adapter_id=<id>/split=<split>/part-NNNNN.parquet}, bad rows to
 * {@code <output>/_quarantine} (Parquet) and {@code <output>/_quarantine.jsonl}, and {@code manifest.json} last.
 * Each input file (or byte range of a large one) is read in order by one Spark task, small files many to a task;
 * row ids follow (file name, line), so a re-run writes byte-identical shards. A run that fails leaves no
 * output and no temporary folder; when rows were quarantined, they are kept in {@code <output>.failed}.
 */
public final class TokenizeJob {
    static final String USAGE = "lorafleet tokenize --config FILE [--set key=value ...] [--overwrite] [--take-over] [--dry-run]";

    public static void main(String[] args) {
        SparkJobs.configMain(USAGE, args, DatasetSpec::load, (spec, parsed) -> List.of(spec.output()), (spark, spec, parsed) -> {
            tokenize(spark, spec, parsed.overwrite());
            return 0;
        });
    }

    /**
     * What reading one input yields: a shard row, a quarantined row, or (once per input) the packing tail
     * dropped; {@code rangeStart} says which part of the file it came from.
     */
    record Outcome(ShardRow row, QuarantinedRow bad, long droppedTailTokens, long blankLines, long rangeStart) implements Serializable {
        RowGroup group() {
            return RowGroup.of(row, rangeStart);
        }
    }

    private static final List<String> QUARANTINE = List.of("_quarantine", "_quarantine.jsonl");

    public static Manifest tokenize(SparkSession spark, DatasetSpec spec, boolean overwrite) throws IOException {
        long started = System.nanoTime();
        Configuration conf = spark.sparkContext().hadoopConfiguration();
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        Broadcast<HadoopConf> hadoop = sc.broadcast(new HadoopConf(conf));
        try (OutputFolder out = OutputFolder.begin(spec.output(), conf, overwrite)) {
            Tokenizer tokenizer = Tokenizer.resolve(spec.tokenizer(), conf);
            try (TextTokenizer t = TextTokenizer.fromJson(tokenizer.json(), 64, tokenizer.source())) {
                RowTokenizer.checkRoom(spec, t);
            }
            Chat chat = spec.chat() ? Chat.resolve(spec, conf) : null;
            List<InputRef> inputs = numberLines(sc, listInputs(spec, conf), hadoop);
            List<List<InputRef>> groups = InputRef.group(inputs, spec.bytesPerSplit(), sc.defaultParallelism());
            SparkJobs.progress("tokenize", "%d inputs of %d tasks in %d Spark tasks → %s (tokenizer %s, max_length %d)", inputs.size(),
                    spec.tasks().size(), groups.size(), out.target(), tokenizer.source(), spec.maxLength());

            JavaRDD<Outcome> outcomes = read(sc, spec, tokenizer, chat, groups, hadoop).persist(StorageLevel.MEMORY_AND_DISK_SER());
            ReadCounts counts = count(spec, inputs, outcomes);
            long good = counts.validRows(), bad = counts.quarantinedRows();
            SparkJobs.progress("tokenize", "read %,d rows: %,d valid, %,d quarantined; %,d blank lines skipped (%.1f s)", good + bad, good, bad,
                    counts.blankLines(), seconds(started));
            Map<String, List<String>> labelNames = counts.labelNames();
            if (bad > 0) writeQuarantine(spark, outcomes.filter(o -> o.bad() != null).map(Outcome::bad), out);
            String problem = counts.problem();
            if (problem != null) {
                outcomes.unpersist();
                if (bad == 0) throw new IOException(problem);
                Path kept = out.abandonKeeping(QUARANTINE);
                throw new IOException(problem + "; the quarantined rows with their reasons are in " + new Path(kept, "_quarantine.jsonl"));
            }

            List<ShardStats> shards = writeShards(sc, outcomes, ShardPlan.of(counts.valid(), spec.rowsPerFile()), labelNames, counts.maxLengths(),
                    out.temp().toString(), hadoop);
            outcomes.unpersist();
            Manifest manifest = counts.manifest(tokenizer.source(), tokenizer.json(), chat == null ? null : chat.parse().sha256(), shards,
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

    /** Each group of inputs read and tokenized in order by one Spark task. */
    private static JavaRDD<Outcome> read(JavaSparkContext sc, DatasetSpec spec, Tokenizer tokenizer, Chat chat, List<List<InputRef>> groups,
                                         Broadcast<HadoopConf> hadoop) {
        Broadcast<byte[]> tokenizerJson = sc.broadcast(tokenizer.json());
        String tokenizerSource = tokenizer.source();
        return sc.parallelize(groups, groups.size()).flatMap(group -> {
            List<Outcome> results = new ArrayList<>();
            ChatTemplate template = chat == null ? null : chat.parse();
            Map<Integer, TextTokenizer> byLength = new HashMap<>(); // the cache's key hashes the tokenizer.json: once per group, not per file
            for (InputRef ref : group) {
                int length = RowTokenizer.encodeLength(spec, ref.task());
                TextTokenizer t = byLength.get(length);
                if (t == null) byLength.put(length, t = ExecutorCache.tokenizer(tokenizerJson.value(), length, tokenizerSource));
                long at = ref.range().start();
                RowTokenizer rows = new RowTokenizer(spec, ref.task(), t, template, r -> results.add(new Outcome(r, null, 0, 0, at)),
                        q -> results.add(new Outcome(null, q, 0, 0, at)));
                long blank = InputReader.read(new HadoopSourceFile(ref.path(), hadoop.value().get()), ref.range(), spec.tasks().get(ref.task()),
                        rows::accept);
                rows.finish();
                results.add(new Outcome(null, null, rows.droppedTailTokens(), blank, at));
            }
            return results.iterator();
        });
    }

    private static ReadCounts count(DatasetSpec spec, List<InputRef> inputs, JavaRDD<Outcome> outcomes) {
        return new ReadCounts(spec, inputs,
                outcomes.filter(o -> o.row() != null).mapToPair(o -> new Tuple2<>(o.group(), 1L)).countByKey(),
                outcomes.filter(o -> o.bad() != null).mapToPair(o -> new Tuple2<>(new BadKey(o.bad().task(), o.bad().reason(), null), 1L)).countByKey(),
                topValues(outcomes), outcomes.map(Outcome::blankLines).fold(0L, Long::sum), outcomes.map(Outcome::droppedTailTokens).fold(0L, Long::sum));
    }

    /**
     * The most frequent offending values (unknown labels and splits) with their counts, most frequent first: counted
     * on the executors, and only the top ones come to the driver, however many distinct values there are.
     */
    private static List<BadCount> topValues(JavaRDD<Outcome> outcomes) {
        return outcomes.filter(o -> o.bad() != null && o.bad().value() != null)
                .mapToPair(o -> new Tuple2<>(new BadKey(o.bad().task(), o.bad().reason(), o.bad().value()), 1L))
                .reduceByKey(Long::sum)
                .map(t -> new BadCount(t._1(), t._2()))
                .takeOrdered(ReadCounts.TOP_VALUES * 20, BadCount.MOST_FREQUENT_FIRST);
    }

    /** The valid rows, numbered and placed by the plan, one Spark task per shard file, written under {@code root}. */
    private static List<ShardStats> writeShards(JavaSparkContext sc, JavaRDD<Outcome> outcomes, ShardPlan plan, Map<String, List<String>> labelNames,
                                                Map<String, Integer> maxLengths, String root, Broadcast<HadoopConf> hadoop) {
        Broadcast<ShardPlan> planned = sc.broadcast(plan);
        Broadcast<Map<String, List<String>>> labels = sc.broadcast(labelNames);
        return outcomes.filter(o -> o.row() != null)
                .map(o -> planned.value().numbered(o.group(), o.row()))
                .mapToPair(row -> new Tuple2<>(planned.value().fileOf(row), row))
                .partitionBy(new ExactPartitioner(plan.files().size()))
                .mapPartitionsWithIndex((index, it) -> {
                    List<ShardRow> rows = new ArrayList<>();
                    it.forEachRemaining(t -> rows.add(t._2()));
                    if (rows.isEmpty()) return Collections.emptyIterator();
                    rows.sort(Comparator.comparingLong(ShardRow::rowId));
                    String relative = planned.value().files().get(index);
                    Path file = new Path(root, relative);
                    String sha = ShardFormat.write(HadoopOutputFile.fromPath(file, hadoop.value().get()), rows);
                    long bytes = file.getFileSystem(hadoop.value().get()).getFileStatus(file).getLen();
                    String adapter = rows.get(0).adapterId();
                    return List.of(ShardStats.of(relative, rows, bytes, sha, labels.value().get(adapter), maxLengths.get(adapter))).iterator();
                }, true).collect();
    }

    /** The tokenizer.json to use, from a model folder (checked against its config's vocab_size) or a file. */
    record Tokenizer(byte[] json, String source) {
        static Tokenizer resolve(String uri, Configuration conf) throws IOException {
            Path path = new Path(uri);
            FileSystem fs = path.getFileSystem(conf);
            if (!fs.exists(path)) throw new IOException("tokenizer: " + fs.makeQualified(path) + " does not exist");
            if (!fs.getFileStatus(path).isDirectory()) {
                byte[] json = SparkJobs.readFile(uri, conf);
                return new Tokenizer(json, fs.makeQualified(path).toString());
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
            return new Tokenizer(json, source);
        }
    }

    /**
     * The chat template for tasks with messages: the spec's chat_template file, else the tokenizer folder's (see
     * {@link #ofFolder}); special tokens from that folder's tokenizer_config.json.
     */
    record Chat(String template, byte[] tokenizerConfig, String source) implements Serializable {
        static Chat resolve(DatasetSpec spec, Configuration conf) throws IOException {
            Path tokenizer = new Path(spec.tokenizer());
            FileSystem fs = tokenizer.getFileSystem(conf);
            Path folder = fs.getFileStatus(tokenizer).isDirectory() ? tokenizer : tokenizer.getParent();
            HadoopModelFiles files = new HadoopModelFiles(folder.toString(), conf);
            Chat chat;
            if (spec.chatTemplate() != null) {
                byte[] config = files.exists(ChatTemplate.TOKENIZER_CONFIG) ? files.readAll(ChatTemplate.TOKENIZER_CONFIG) : null;
                chat = new Chat(new String(SparkJobs.readFile(spec.chatTemplate(), conf), StandardCharsets.UTF_8), config, spec.chatTemplate());
            } else {
                chat = ofFolder(files);
                if (chat == null) {
                    throw new IOException("tasks with messages need a chat template: " + Chat.missing(files) + "; give one with chat_template: FILE");
                }
            }
            chat.parse(); // a template we cannot parse fails here, naming its line, before any row is read
            return chat;
        }

        /** What a folder without a chat template lacks. */
        static String missing(HadoopModelFiles files) {
            return files.describe(ChatTemplate.FILE) + " does not exist and " + files.describe(ChatTemplate.TOKENIZER_CONFIG) + " holds no chat_template";
        }

        /** A model folder's chat template: its chat_template.jinja, else its tokenizer_config.json's chat_template; null when it has none. */
        static Chat ofFolder(HadoopModelFiles files) throws IOException {
            byte[] config = files.exists(ChatTemplate.TOKENIZER_CONFIG) ? files.readAll(ChatTemplate.TOKENIZER_CONFIG) : null;
            if (files.exists(ChatTemplate.FILE)) {
                return new Chat(new String(files.readAll(ChatTemplate.FILE), StandardCharsets.UTF_8), config, files.describe(ChatTemplate.FILE));
            }
            String text = config == null ? null : ChatTemplate.templateText(config, files.describe(ChatTemplate.TOKENIZER_CONFIG));
            return text == null ? null : new Chat(text, config, files.describe(ChatTemplate.TOKENIZER_CONFIG) + " (chat_template)");
        }

        ChatTemplate parse() throws IOException {
            return ChatTemplate.of(template, tokenizerConfig, source);
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
                files.sort(Comparator.comparing(f -> f.getPath().toString()));
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

    private static double seconds(long since) {
        return (System.nanoTime() - since) / 1e9;
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
