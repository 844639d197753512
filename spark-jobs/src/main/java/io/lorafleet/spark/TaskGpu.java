package io.lorafleet.spark;

import org.apache.spark.TaskContext;
import org.apache.spark.resource.ResourceInformation;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Map;
import java.util.OptionalInt;

/**
 * Puts a task's ND4J work on the GPU Spark assigned to that task (spark.task.resource.gpu.amount=1 with a
 * discovery script, deploy/gpu/discover-gpus.sh), so that tasks sharing a machine never share a GPU. On
 * the CPU backend, or when no GPU was assigned, nothing changes.
 */
final class TaskGpu {
    private TaskGpu() { }

    /** The GPU among a task's resources: the first address Spark gave it under "gpu". */
    static OptionalInt assigned(Map<String, ResourceInformation> resources) {
        ResourceInformation gpu = resources.get(org.apache.spark.resource.ResourceUtils.GPU());
        if (gpu == null || gpu.addresses().length == 0) return OptionalInt.empty();
        String address = gpu.addresses()[0].trim();
        try {
            return OptionalInt.of(Integer.parseInt(address));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("GPU address '" + address + "' assigned by Spark is not a CUDA device index; "
                    + "the discovery script must print indices like {\"name\": \"gpu\", \"addresses\": [\"0\", \"1\"]}");
        }
    }

    /** Binds the calling task thread to its assigned GPU, if it has one. */
    static void bindCurrentTask() {
        TaskContext task = TaskContext.get();
        if (task == null) return;
        OptionalInt device = assigned(task.resourcesJMap());
        if (device.isPresent()) Nd4j.getAffinityManager().unsafeSetDevice(device.getAsInt());
    }
}
