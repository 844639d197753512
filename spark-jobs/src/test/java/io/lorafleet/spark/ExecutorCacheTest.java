package io.lorafleet.spark;

import org.junit.jupiter.api.Test;

import java.io.IOException;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ExecutorCacheTest {
    @Test
    void anExecutorRefusesAModelWhoseContentIsNotWhatTheDriverHashed() throws IOException {
        String uri = MiniLm.folder().toUri().toString();
        IOException e = assertThrows(IOException.class, () -> ExecutorCache.model(uri, "0".repeat(64), SparkJobs.hadoopConf()));
        assertTrue(e.getMessage().startsWith(uri) && e.getMessage().contains("changed while the job ran") && e.getMessage().contains("0".repeat(64)),
                e.getMessage());
    }
}
