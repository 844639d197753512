package io.lorafleet.datasets;

import java.io.Serializable;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** A written shard file with what the manifest needs from it: its label counts and its token-length histogram. */
public record ShardStats(Manifest.ShardFile file, Map<String, Long> labels, long[] lengths) implements Serializable {
    static final int LENGTH_BINS = 16;

    /** @param rows the file's rows, all of one adapter and split */
    public static ShardStats of(String relative, List<ShardRow> rows, long bytes, String sha256, List<String> labelNames, int maxLength) {
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
        return new ShardStats(new Manifest.ShardFile(relative, first.adapterId(), first.split(), rows.size(), tokens, bytes, sha256), labels, lengths);
    }

    static int binWidth(int maxLength) {
        return Math.max(1, (maxLength + LENGTH_BINS) / LENGTH_BINS);
    }
}
