package io.lorafleet.model;

import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.memory.conf.WorkspaceConfiguration;
import org.nd4j.linalg.api.memory.enums.AllocationPolicy;
import org.nd4j.linalg.api.memory.enums.LearningPolicy;
import org.nd4j.linalg.api.memory.enums.ResetPolicy;
import org.nd4j.linalg.api.memory.enums.SpillPolicy;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.function.Supplier;

/**
 * Runs one layer's backward in a workspace of its own that the next layer's backward reuses: a layer's
 * backward temporaries (attention's dprobs, the FFN's gradients) then take one layer's memory, not one
 * per layer until the step ends. Parameter gradients go into their buffers in place; only the input
 * gradient leaves, copied to the enclosing (step) workspace.
 */
public final class LayerBackward {
    /**
     * How a training step's workspaces are kept (this one and the trainers' step workspace): sized by their
     * first use, grown when a longer batch spills, reused from then on.
     */
    public static final WorkspaceConfiguration REUSED = WorkspaceConfiguration.builder()
            .initialSize(0)
            .policyAllocation(AllocationPolicy.OVERALLOCATE)
            .overallocationLimit(0.1)
            .policyLearning(LearningPolicy.FIRST_LOOP)
            .policyReset(ResetPolicy.BLOCK_LEFT)
            .policySpill(SpillPolicy.REALLOCATE)
            .build();
    private static final String ID = "lorafleet-layer-backward";

    private LayerBackward() { }

    /** Frees this thread's layer-backward workspace (a thread keeps every workspace it opened until destroyed). */
    public static void release() {
        if (Nd4j.getWorkspaceManager().checkIfWorkspaceExists(ID)) {
            Nd4j.getWorkspaceManager().destroyWorkspace(Nd4j.getWorkspaceManager().getWorkspaceForCurrentThread(REUSED, ID));
        }
    }

    /** A block's backward: dy → its input gradient, or null when {@code inputGradient} is false. */
    interface BlockBackward<B> {
        INDArray run(B block, INDArray dy, boolean inputGradient);
    }

    /**
     * Backward through a stack of blocks, last to first, each in this reused workspace ({@link #run}): every block but
     * the first computes its input gradient, the first only when {@code firstInputGradient} (trainable embeddings
     * below). Returns the first block's input gradient, or null.
     */
    static <B> INDArray throughBlocks(java.util.List<B> blocks, INDArray dTop, boolean firstInputGradient, BlockBackward<B> backward) {
        INDArray d = dTop;
        for (int i = blocks.size() - 1; i >= 0; i--) {
            B block = blocks.get(i);
            INDArray dy = d;
            boolean inputGradient = i > 0 || firstInputGradient;
            d = run(dy, () -> backward.run(block, dy, inputGradient));
        }
        return d;
    }

    /**
     * The layer's input gradient (or null), copied into an array of dy's shape made in the workspace that
     * was current before (a layer's input and output have the same shape). A copy, not ND4J's leverage() to
     * the parent workspace: that corrupted the native heap here (glibc "free(): invalid size" in the bulk
     * decoder test).
     */
    static INDArray run(INDArray dy, Supplier<INDArray> backward) {
        INDArray out = Nd4j.createUninitialized(dy.dataType(), dy.shape());
        try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().getAndActivateWorkspace(REUSED, ID)) {
            INDArray dx = backward.get();
            if (dx == null) return null;
            out.assign(dx);
        }
        return out;
    }
}
