package io.lorafleet.nn;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;
import java.util.List;

/**
 * A frozen {@link Linear} shared by several adapters in one fused batch (mLoRA, arXiv 2312.02515): the base
 * x·Wᵀ + b runs once over all rows, then each adapter's {@link AdapterDelta} runs on its own rows only. Rows
 * of different adapters never mix, so each adapter gets exactly the output and gradients it would get alone.
 */
public final class MultiLoraLinear implements Projection {
    private final Linear base;
    private final List<AdapterDelta> deltas; // per adapter; null where that adapter does not adapt this module
    private final AdapterRows rows;

    public MultiLoraLinear(Linear base, List<AdapterDelta> deltas, AdapterRows rows) {
        if (deltas.size() != rows.adapters()) throw new IllegalArgumentException(deltas.size() + " deltas for " + rows.adapters() + " adapters");
        for (AdapterDelta d : deltas) if (d != null) LoraLinear.checkFits(base, d);
        this.base = base;
        this.deltas = java.util.Collections.unmodifiableList(Arrays.asList(deltas.toArray(new AdapterDelta[0])));
        this.rows = rows;
    }

    @Override
    public INDArray forward(INDArray x) {
        INDArray y = base.forward(x);
        for (int k = 0; k < deltas.size(); k++) {
            if (deltas.get(k) != null && rows.has(k)) deltas.get(k).addForward(rows.of(x, k), rows.of(y, k));
        }
        return y;
    }

    @Override
    public INDArray backward(INDArray dy, boolean inputGradient) {
        INDArray dx = base.backward(dy, inputGradient);
        for (int k = 0; k < deltas.size(); k++) {
            if (deltas.get(k) != null && rows.has(k)) deltas.get(k).backward(rows.of(dy, k), dx == null ? null : rows.of(dx, k));
        }
        return dx;
    }

    public List<AdapterDelta> deltas() { return deltas; }

    @Override public long inFeatures() { return base.inFeatures(); }

    @Override public long outFeatures() { return base.outFeatures(); }
}
