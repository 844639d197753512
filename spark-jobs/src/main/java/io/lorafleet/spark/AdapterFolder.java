package io.lorafleet.spark;

import io.lorafleet.datasets.Manifest;
import io.lorafleet.datasets.YamlConfig;
import io.lorafleet.io.PeftAdapter;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Writes an adapter folder on any Hadoop file system so that it is complete or refused: the files go into
 * a hidden temporary sibling renamed into place (atomic on HDFS and local disks), and {@code _COMPLETE}
 * is written last (what readers check, and all S3 offers). An existing adapter is replaced only with
 * --overwrite.
 */
final class AdapterFolder {
    private AdapterFolder() { }

    /** Where a trained adapter goes: {@code <output>/<adapter id>}. */
    static Path path(TrainWorker.Spec spec) {
        return new Path(spec.config().output(), spec.adapter());
    }

    /** A trained adapter's folder: its PEFT files, provenance (lorafleet.json), labels and metrics; complete or absent. */
    static Path writeTrained(TrainWorker.Spec spec, Map<String, byte[]> peftFiles, TrainPlan.Prepared p, byte[] metrics, Configuration conf,
                             boolean overwrite) throws IOException {
        Map<String, byte[]> files = new LinkedHashMap<>(peftFiles);
        Manifest.AdapterStats stats = p.manifest().adapters().get(spec.adapter());
        files.put(PeftAdapter.INFO, provenance(spec.config(), p, spec.adapter(), stats));
        if (!spec.causalLm()) files.put(PeftAdapter.LABELS, PeftAdapter.labelsJson(stats.labels()));
        files.put(PeftAdapter.METRICS, metrics);
        return write(path(spec).toString(), files, conf, overwrite);
    }

    /** lorafleet.json: what the adapter was trained from, so eval and merge can refuse a different base. */
    private static byte[] provenance(TrainConfig c, TrainPlan.Prepared p, String adapter, Manifest.AdapterStats stats) throws IOException {
        Map<String, Object> info = new LinkedHashMap<>();
        info.put("format_version", 1);
        info.put("adapter_id", adapter);
        info.put("base_model", c.model());
        info.put("base_model_sha256", p.modelHash());
        info.put("tokenizer_sha256", p.manifest().tokenizerSha256());
        info.put("tokenizer_fingerprint", p.manifest().tokenizerFingerprint());
        info.put("shards", c.shards());
        info.put("shards_manifest_sha256", p.manifestSha256());
        info.put("labels", stats.labels());
        info.put("pooling", c.head().pooling());
        info.put("training", c);
        info.put("lorafleet_version", SparkJobs.version());
        return YamlConfig.json().writeValueAsBytes(info);
    }

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
