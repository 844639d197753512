package io.lorafleet.datasets;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * Which shard file each row goes to: rows of an (adapter, split) are numbered in (source file, byte range, line)
 * order and cut into files of rows_per_file, so that a re-run writes byte-identical shards.
 *
 * @param offsets the number of the first row of each row group within its (adapter, split)
 */
public record ShardPlan(Map<RowGroup, Long> offsets, List<String> files, Map<String, Integer> fileIndex, int rowsPerFile) implements Serializable {
    /** Rows of one adapter and split from one input range: the unit the job counts, numbers and places. */
    public record RowGroup(String adapterId, String split, String source, long rangeStart) implements Serializable, Comparable<RowGroup> {
        private static final Comparator<RowGroup> ORDER = Comparator.comparing(RowGroup::adapterId)
                .thenComparing(RowGroup::split).thenComparing(RowGroup::source).thenComparingLong(RowGroup::rangeStart);

        /** @param rangeStart where in its source the row's byte range starts */
        public static RowGroup of(ShardRow row, long rangeStart) {
            return new RowGroup(row.adapterId(), row.split(), row.source(), rangeStart);
        }

        @Override
        public int compareTo(RowGroup other) {
            return ORDER.compare(this, other);
        }
    }

    /** @param counts valid rows per row group */
    public static ShardPlan of(Map<RowGroup, Long> counts, int rowsPerFile) {
        Map<RowGroup, Long> offsets = new HashMap<>();
        Map<List<String>, Long> totals = new LinkedHashMap<>();
        for (RowGroup g : new TreeSet<>(counts.keySet())) {
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
        return new ShardPlan(offsets, files, index, rowsPerFile);
    }

    /** The row with its id within its (adapter, split): its group's offset plus its number within the group. */
    public ShardRow numbered(RowGroup group, ShardRow row) {
        return row.withRowId(offsets.get(group) + row.rowId());
    }

    /** The index in {@link #files} of the file a {@link #numbered} row goes to. */
    public int fileOf(ShardRow numbered) {
        return fileIndex.get(fileName(numbered.adapterId(), numbered.split(), numbered.rowId() / rowsPerFile));
    }

    static String fileName(String adapterId, String split, long index) {
        return String.format("adapter_id=%s/split=%s/part-%05d.parquet", adapterId, split, index);
    }
}
