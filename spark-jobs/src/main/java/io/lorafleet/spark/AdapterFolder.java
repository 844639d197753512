package io.lorafleet.spark;

import io.lorafleet.io.PeftAdapter;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

import java.io.IOException;
import java.util.Map;

/**
 * Writes an adapter folder on any Hadoop file system so that it is complete or refused: the files go into
 * a hidden temporary sibling renamed into place (atomic on HDFS and local disks), and {@code _COMPLETE}
 * is written last (what readers check, and all S3 offers). An existing adapter is replaced only with
 * --overwrite.
 */
final class AdapterFolder {
    private AdapterFolder() { }

    /** @param files file name → bytes (adapter_model.safetensors, adapter_config.json, lorafleet.json, metrics.json) */
    static Path write(String uri, Map<String, byte[]> files, Configuration conf, boolean overwrite) throws IOException {
        try (OutputFolder out = OutputFolder.begin(uri, conf, overwrite)) {
            FileSystem fs = out.fileSystem();
            for (Map.Entry<String, byte[]> f : files.entrySet()) {
                try (FSDataOutputStream o = fs.create(new Path(out.temp(), f.getKey()), false)) {
                    o.write(f.getValue());
                }
            }
            out.commit();
            OutputFolder.writeFile(fs, new Path(out.target(), PeftAdapter.COMPLETE), new byte[0]);
            return out.target();
        }
    }
}
