package io.lorafleet.nn;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.Arrays;

/**
 * Which rows of a fused batch belong to which adapter: adapter k owns rows [start(k), end(k)), possibly
 * none. One instance is shared by every {@link MultiLoraLinear} of a model and set once per batch.
 */
public final class AdapterRows {
    private final long[] start;
    private final long[] end;

    public AdapterRows(int adapters) {
        start = new long[adapters];
        end = new long[adapters];
    }

    /** Sets every adapter's row range; ranges must not overlap. */
    public void set(long[] starts, long[] ends) {
        if (starts.length != start.length || ends.length != end.length) {
            throw new IllegalArgumentException("row ranges for " + starts.length + " adapters, the model has " + start.length);
        }
        for (int k = 0; k < starts.length; k++) {
            if (starts[k] < 0 || ends[k] < starts[k]) throw new IllegalArgumentException("adapter " + k + ": bad row range [" + starts[k] + ", " + ends[k] + ")");
        }
        System.arraycopy(starts, 0, start, 0, start.length);
        System.arraycopy(ends, 0, end, 0, end.length);
    }

    public int adapters() { return start.length; }

    public boolean has(int adapter) { return end[adapter] > start[adapter]; }

    /** The adapter's rows of m [N, cols], as a view. */
    public INDArray of(INDArray m, int adapter) {
        if (end[adapter] > m.rows()) {
            throw new IllegalArgumentException("adapter " + adapter + " owns rows up to " + end[adapter] + " of a batch with " + m.rows());
        }
        if (start[adapter] == 0 && end[adapter] == m.rows()) return m;
        return m.get(NDArrayIndex.interval(start[adapter], end[adapter]), NDArrayIndex.all());
    }

    @Override
    public String toString() {
        return "AdapterRows" + Arrays.toString(start) + "→" + Arrays.toString(end);
    }
}
