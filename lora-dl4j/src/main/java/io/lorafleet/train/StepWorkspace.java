package io.lorafleet.train;

import io.lorafleet.model.LayerBackward;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.memory.abstracts.Nd4jWorkspace;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The ND4J workspace one trainer's steps run in: every activation of a step lives in it and it is reset at
 * the end of the step, so steady-state training allocates no memory the GC must free (ND4J frees
 * off-heap memory only when the GC runs).
 */
final class StepWorkspace implements AutoCloseable {
    private final String id;

    StepWorkspace(Object owner) {
        this.id = "lorafleet-step-" + Integer.toHexString(System.identityHashCode(owner));
    }

    /** Activates the workspace on this thread; closing what it returns ends the step. */
    MemoryWorkspace open() {
        return Nd4j.getWorkspaceManager().getAndActivateWorkspace(LayerBackward.REUSED, id);
    }

    /** For memory accounting. */
    Nd4jWorkspace current() {
        return (Nd4jWorkspace) Nd4j.getWorkspaceManager().getWorkspaceForCurrentThread(LayerBackward.REUSED, id);
    }

    /** Frees the workspace and the layers' backward one (a thread keeps every workspace it opened until destroyed). */
    @Override
    public void close() {
        Nd4j.getWorkspaceManager().destroyWorkspace(Nd4j.getWorkspaceManager().getWorkspaceForCurrentThread(LayerBackward.REUSED, id));
        LayerBackward.release();
    }
}
