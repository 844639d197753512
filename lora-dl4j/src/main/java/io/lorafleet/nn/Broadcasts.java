package io.lorafleet.nn;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.BroadcastOp;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastAddOp;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastDivOp;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastMulOp;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastSubOp;
import org.nd4j.linalg.factory.Nd4j;

import java.lang.ref.Reference;

/**
 * ND4J's broadcasts (a row or column vector, or a lower-rank array, applied along dimensions), each op kept reachable
 * until its native call returns. ND4J M2.1's executor hands the native call the buffer of the op's own dimension
 * array and then no longer needs the op, so a garbage collection during the call can free that buffer: a SIGSEGV in
 * libnd4j's {@code DataBuffer::primary} under {@code execBroadcast}, seen in a gradient test and in the quality study's
 * two training threads, both in {@code Linear.forward}'s bias. Use these instead of {@code addiRowVector},
 * {@code subColumnVector}, {@code Broadcast.add} and the like.
 */
public final class Broadcasts {
    public enum Op { ADD, SUB, MUL, DIV }

    private Broadcasts() { }

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

    /** Each row of {@code x} [rows, cols] op {@code row} [cols] (or [1, cols]), into {@code out}. */
    public static INDArray rows(Op op, INDArray x, INDArray row, INDArray out) {
        return apply(op, x, row.reshape(row.length()), out, 1);
    }

    /** Each column of {@code x} [rows, cols] op {@code column} [rows] (or [rows, 1]), into {@code out}. */
    public static INDArray columns(Op op, INDArray x, INDArray column, INDArray out) {
        return apply(op, x, column.reshape(column.length()), out, 0);
    }
}
