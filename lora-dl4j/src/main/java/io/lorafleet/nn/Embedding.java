package io.lorafleet.nn;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.factory.Nd4j;

/** Row lookup y[i] = table[ids[i]]; when trainable, the backward scatter-adds dy into the looked-up rows. */
public final class Embedding {
    private final Param table; // [vocab, dim]
    private int[] ids;         // [N]

    public Embedding(Param table) {
        this.table = table;
    }

    public INDArray forward(int[] ids) {
        long vocab = table.shape()[0];
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= vocab) {
                throw new IllegalArgumentException("token id " + ids[i] + " at position " + i + " is outside " + table.name() + " (vocab " + vocab + ")");
            }
        }
        this.ids = ids;
        return Nd4j.pullRows(table.value(), 1, ids);
    }

    public void backward(INDArray dy) {
        if (!table.trainable()) return;
        INDArray indices = Nd4j.createFromArray(ids).castTo(DataType.INT32);
        // In place: the op's output is the gradient buffer itself; repeated ids accumulate.
        Nd4j.exec(DynamicCustomOp.builder("scatter_add").addInputs(table.grad(), indices, dy).addOutputs(table.grad()).build());
    }

    public Param table() { return table; }

    public long dim() { return table.shape()[1]; }
}
