package io.lorafleet.datasets;

import io.lorafleet.datasets.ShardPlan.RowGroup;

import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * What reading a dataset's inputs gave, counted: valid rows per row group, quarantined rows per task and reason,
 * the most frequent offending values, blank lines and the packing tails dropped. From it come the verdict on
 * each task, each adapter's label list and longest row, and the manifest.
 *
 * @param topValues the most frequent (task, reason, value) of quarantined rows, most frequent first
 */
public record ReadCounts(DatasetSpec spec, List<InputRef> inputs, Map<RowGroup, Long> valid, Map<BadKey, Long> quarantined,
                         List<BadCount> topValues, long blankLines, long droppedTailTokens) {
    /** Quarantined rows are counted per task, reason and offending value (null for reasons without one). */
    public record BadKey(int task, String reason, String value) implements Serializable { }

    public record BadCount(BadKey key, long count) implements Serializable {
        /** Higher counts first, then by value, so that an error names the same values on every run. */
        public static final Comparator<BadCount> MOST_FREQUENT_FIRST = (Comparator<BadCount> & Serializable) (a, b) -> {
            int byCount = Long.compare(b.count(), a.count());
            return byCount != 0 ? byCount : a.key().value().compareTo(b.key().value());
        };
    }

    /** How many distinct offending values an error names per reason. */
    public static final int TOP_VALUES = 5;

    public long validRows() {
        return valid.values().stream().mapToLong(Long::longValue).sum();
    }

    public long quarantinedRows() {
        return quarantined.values().stream().mapToLong(Long::longValue).sum();
    }

    /**
     * What to fix when a task has no valid rows or too many bad ones, naming each reason's most frequent
     * offending values (an unknown label, a split value); null when every task is fine.
     */
    public String problem() {
        Map<Integer, Long> goodByTask = new HashMap<>();
        Map<String, Integer> taskOfSource = taskOfSource();
        valid.forEach((group, n) -> goodByTask.merge(taskOfSource.get(group.source()), n, Long::sum));
        Map<Integer, Map<String, Long>> badByTask = new HashMap<>();
        quarantined.forEach((key, n) -> badByTask.computeIfAbsent(key.task(), k -> new TreeMap<>()).merge(key.reason(), n, Long::sum));
        for (int t = 0; t < spec.tasks().size(); t++) {
            long ok = goodByTask.getOrDefault(t, 0L);
            Map<String, Long> reasons = badByTask.getOrDefault(t, Map.of());
            long rejected = reasons.values().stream().mapToLong(Long::longValue).sum();
            String name = "tasks[" + t + "]" + (spec.tasks().get(t).adapterId() != null ? " (" + spec.tasks().get(t).adapterId() + ")" : "");
            double fraction = rejected / (double) (ok + rejected);
            if (ok == 0) return name + ": no valid rows (" + rejected + " quarantined: " + describe(t, reasons) + ")";
            if (fraction > spec.maxBadFraction()) {
                return String.format("%s: %d of %d rows (%.1f%%) are bad: %s; above max_bad_fraction %s", name, rejected, ok + rejected,
                        100 * fraction, describe(t, reasons), spec.maxBadFraction());
            }
        }
        return null;
    }

    /** "unknown_label 1400 ('other' ×1200, 'misc' ×200), empty_text 3" */
    private String describe(int task, Map<String, Long> reasons) {
        List<String> parts = new ArrayList<>();
        reasons.forEach((reason, n) -> {
            List<BadCount> values = topValues.stream().filter(v -> v.key().task() == task && v.key().reason().equals(reason)).toList();
            StringBuilder part = new StringBuilder(reason + " " + n);
            if (!values.isEmpty()) {
                part.append(" (");
                for (int i = 0; i < Math.min(TOP_VALUES, values.size()); i++) {
                    part.append(i == 0 ? "" : ", ").append('\'').append(values.get(i).key().value()).append("' ×").append(values.get(i).count());
                }
                part.append(values.size() > TOP_VALUES ? ", …)" : ")");
            }
            parts.add(part.toString());
        });
        return String.join(", ", parts);
    }

    /** Class names per adapter, in id order; an adapter fed by several tasks must get one label list from them. */
    public Map<String, List<String>> labelNames() throws IOException {
        Map<String, Integer> taskOfSource = taskOfSource();
        Map<String, List<String>> names = new TreeMap<>();
        for (RowGroup group : new TreeSet<>(valid.keySet())) { // in order, so that the error names the same lists on every run
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
    public Map<String, Integer> maxLengths() {
        Map<String, Integer> taskOfSource = taskOfSource();
        Map<String, Integer> lengths = new TreeMap<>();
        for (RowGroup group : valid.keySet()) lengths.merge(group.adapterId(), spec.maxLength(taskOfSource.get(group.source())), Math::max);
        return lengths;
    }

    private Map<String, Integer> taskOfSource() {
        Map<String, Integer> task = new HashMap<>();
        for (InputRef ref : inputs) task.put(ref.path(), ref.task());
        return task;
    }

    /**
     * The manifest of the written shards: per adapter and split, rows, tokens, label and length histograms.
     *
     * @param chatTemplateSha256 {@link ChatTemplate#sha256()} of the template that rendered conversations, or null
     * @param quarantine         the quarantine's folder name, or null when no row was quarantined
     */
    public Manifest manifest(String tokenizerSource, byte[] tokenizerJson, String chatTemplateSha256, List<ShardStats> shards, String quarantine)
            throws IOException {
        Map<String, List<String>> labelNames = labelNames();
        Map<String, Integer> maxLengths = maxLengths();
        List<ShardStats> sorted = new ArrayList<>(shards);
        sorted.sort(Comparator.comparing(s -> s.file().path()));
        Map<String, Map<String, Long>> rows = new TreeMap<>(), tokens = new TreeMap<>();
        Map<String, Map<String, Map<String, Long>>> hist = new TreeMap<>();
        Map<String, long[]> lengths = new TreeMap<>();
        for (ShardStats s : sorted) {
            String a = s.file().adapterId(), split = s.file().split();
            rows.computeIfAbsent(a, k -> new TreeMap<>()).merge(split, s.file().rows(), Long::sum);
            tokens.computeIfAbsent(a, k -> new TreeMap<>()).merge(split, s.file().tokens(), Long::sum);
            Map<String, Long> h = hist.computeIfAbsent(a, k -> new TreeMap<>()).computeIfAbsent(split, k -> new TreeMap<>());
            s.labels().forEach((label, n) -> h.merge(label, n, Long::sum));
            long[] l = lengths.computeIfAbsent(a, k -> new long[ShardStats.LENGTH_BINS]);
            for (int i = 0; i < ShardStats.LENGTH_BINS; i++) l[i] += s.lengths()[i];
        }
        Map<String, Manifest.AdapterStats> adapters = new TreeMap<>();
        for (String a : rows.keySet()) {
            adapters.put(a, new Manifest.AdapterStats(labelNames.getOrDefault(a, List.of()), rows.get(a), tokens.get(a), hist.get(a),
                    ShardStats.binWidth(maxLengths.get(a)), Arrays.stream(lengths.get(a)).boxed().toList(), maxLengths.get(a)));
        }
        Map<String, Long> dropped = new TreeMap<>();
        quarantined.forEach((key, n) -> dropped.merge(key.reason(), n, Long::sum));
        return new Manifest(Manifest.FORMAT_VERSION, spec.objective().name().toLowerCase(Locale.ROOT), tokenizerSource, Sha256.of(tokenizerJson),
                TextTokenizer.fingerprint(tokenizerJson, tokenizerSource), spec.maxLength(), inputs.stream().map(InputRef::path).distinct().toList(),
                adapters, validRows() + quarantinedRows(), quarantinedRows(), blankLines, dropped, droppedTailTokens, quarantine,
                sorted.stream().map(ShardStats::file).toList(), chatTemplateSha256);
    }
}
