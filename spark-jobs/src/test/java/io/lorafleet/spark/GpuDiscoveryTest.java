package io.lorafleet.spark;

import com.fasterxml.jackson.databind.JsonNode;
import io.lorafleet.datasets.YamlConfig;
import org.apache.spark.resource.ResourceInformation;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.OptionalInt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * deploy/gpu/discover-gpus.sh and the task's GPU choice. No GPU or NVIDIA driver exists on these machines,
 * so nvidia-smi is replaced by a script printing what the real one prints for
 * {@code --query-gpu=index --format=csv,noheader}; Spark's own parser reads the output.
 */
class GpuDiscoveryTest {
    private static final Path SCRIPT = Path.of("../deploy/gpu/discover-gpus.sh").toAbsolutePath().normalize();

    private static ProcessResult discover(Path smi, String visible) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder("bash", SCRIPT.toString());
        pb.environment().put("NVIDIA_SMI", smi.toString());
        if (visible != null) pb.environment().put("CUDA_VISIBLE_DEVICES", visible);
        else pb.environment().remove("CUDA_VISIBLE_DEVICES");
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        return new ProcessResult(p.waitFor(), out, err);
    }

    private record ProcessResult(int code, String out, String err) { }

    @Test
    void discoveryPrintsSparksResourceJsonForEveryVisibleGpu(@TempDir Path tmp) throws Exception {
        Path smi = tmp.resolve("nvidia-smi");
        Files.writeString(smi, "#!/bin/sh\nprintf '0\\n1\\n 2\\n3\\n'\n");
        assertTrue(smi.toFile().setExecutable(true));

        ProcessResult all = discover(smi, null);
        assertEquals(0, all.code(), all.err());
        ResourceInformation parsed = ResourceInformation.parseJson(all.out().trim());
        assertEquals("gpu", parsed.name());
        assertEquals(java.util.List.of("0", "1", "2", "3"), java.util.List.of(parsed.addresses()));
        JsonNode json = YamlConfig.json().readTree(all.out());
        assertEquals(4, json.get("addresses").size());

        ProcessResult visible = discover(smi, "3,1");
        assertEquals(java.util.List.of("1", "3"), java.util.List.of(ResourceInformation.parseJson(visible.out().trim()).addresses()));

        ProcessResult missing = discover(tmp.resolve("no-such-nvidia-smi"), null);
        assertNotEquals(0, missing.code());
        assertTrue(missing.err().contains("not found"), missing.err());
    }

    @Test
    void aTaskUsesTheFirstGpuSparkAssignedToIt() {
        assertEquals(OptionalInt.of(2), TaskGpu.assigned(Map.of("gpu", new ResourceInformation("gpu", new String[] {"2", "3"}))));
        assertEquals(OptionalInt.empty(), TaskGpu.assigned(Map.of()), "no GPU assigned: stay on the CPU");
        assertEquals(OptionalInt.empty(), TaskGpu.assigned(Map.of("fpga", new ResourceInformation("fpga", new String[] {"0"}))));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TaskGpu.assigned(Map.of("gpu", new ResourceInformation("gpu", new String[] {"GPU-8f3a"}))));
        assertTrue(e.getMessage().contains("not a CUDA device index"), e.getMessage());
    }
}
