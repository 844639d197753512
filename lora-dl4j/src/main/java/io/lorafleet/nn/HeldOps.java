package io.lorafleet.nn;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.BroadcastOp;
import org.nd4j.linalg.api.ops.ReduceOp;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastAddOp;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastDivOp;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastMulOp;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastSubOp;
import org.nd4j.linalg.api.ops.impl.reduce.floating.Mean;
import org.nd4j.linalg.api.ops.impl.reduce.same.Max;
import org.nd4j.linalg.api.ops.impl.reduce.same.Sum;
import org.nd4j.linalg.factory.Nd4j;

import java.lang.ref.Reference;

/**
 * ND4J's broadcasts and reductions along dimensions, each op kept reachable until its native call returns. ND4J
 * M2.1's executor hands the native call the buffer of the op's own dimension array and then no longer needs the op,
 * so a garbage collection during the call can free that buffer: a SIGSEGV in libnd4j's {@code DataBuffer::primary}
 * under {@code execBroadcast}, seen in a gradient test and in the quality study's two training threads, both in
 * {@code Linear.forward}'s bias; reductions pass their dimensions the same way. Use these instead of
 * {@code addiRowVector}, {@code subColumnVector}, {@code Broadcast.add}, {@code sum(dims)}, {@code mean(dims)},
 * {@code max(dims)} and the like.
 */
public final class HeldOps {
    public enum Op { ADD, SUB, MUL, DIV }

    private HeldOps() { }

    /** {@code out = x op y}, y broadcast along x's {@code dimensions} (the ones y spans); returns out. */
    public static INDArray apply(Op op, INDArray x, INDArray y, INDArray out, int... dimensions) {
        BroadcastOp broadcast = switch (op) {
            case ADD -> new BroadcastAddOp(x, y, out, dimensions);
            case SUB -> new BroadcastSubOp(x, y, out, dimensions);
            case MUL -> new BroadcastMulOp(x, y, out, dimensions);
            case DIV -> new BroadcastDivOp(x, y, out, dimensions);
        };
        Nd4j.getExecutioner().exec(broadcast);
        Reference.reachabilityFence(broadcast);
        return out;
    }

    /** The sum over {@code dimensions}, which are dropped from the shape. */
    public static INDArray sum(INDArray x, int... dimensions) {
        return reduce(new Sum(x, dimensions));
    }

    /** The mean over {@code dimensions}, which are dropped from the shape. */
    public static INDArray mean(INDArray x, int... dimensions) {
        return reduce(new Mean(x, dimensions));
    }

    /** The largest value over {@code dimensions}, which are dropped from the shape. */
    public static INDArray max(INDArray x, int... dimensions) {
        return reduce(new Max(x, dimensions));
    }

    private static INDArray reduce(ReduceOp op) {
        INDArray result = Nd4j.getExecutioner().exec(op);
        Reference.reachabilityFence(op);
        return result;
    }

    /** Each row of {@code x} [rows, cols] op {@code row} [cols] (or [1, cols]), into {@code out}. */
    public static INDArray rows(Op op, INDArray x, INDArray row, INDArray out) {
        return apply(op, x, row.reshape(row.length()), out, 1);
    }

    /** Each column of {@code x} [rows, cols] op {@code column} [rows] (or [rows, 1]), into {@code out}. */
    public static INDArray columns(Op op, INDArray x, INDArray column, INDArray out) {
        return apply(op, x, column.reshape(column.length()), out, 0);
    }
}
