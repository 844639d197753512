package io.lorafleet.datasets;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;

/** One input file (or one byte range of a large line-based file) of one task, and its bytes. */
public record InputRef(int task, String path, ByteRange range, long bytes) implements Serializable {
    /**
     * Inputs grouped into read tasks of about equal bytes, in order: at least as many groups as the cluster has
     * cores (when there are that many inputs) and none much over bytes_per_split, so that thousands of small
     * files cost tens of tasks, not thousands.
     */
    public static List<List<InputRef>> group(List<InputRef> inputs, long bytesPerSplit, int parallelism) {
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
}
