package io.lorafleet.spark;

import com.fasterxml.jackson.databind.JsonNode;
import io.lorafleet.datasets.YamlConfig;
import io.lorafleet.io.SafetensorsReader;
import io.lorafleet.io.SafetensorsWriter;
import io.lorafleet.train.TrainState;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * One adapter's checkpoints: {@code <dir>/round-000010/} holding {@code state.safetensors} (the trainable
 * values and the optimizer state), {@code checkpoint.json}, and {@code _COMPLETE} written last. A folder
 * without the marker is ignored, so a crash while writing never leaves a checkpoint that looks good.
 */
final class Checkpoints {
    static final String STATE = "state.safetensors", INFO = "checkpoint.json", COMPLETE = "_COMPLETE", FINAL = "final";

    /**
     * What a checkpoint was made by and where training stood; resuming requires the same fingerprint. {@code config}
     * is the adapter's resolved settings as it trained: the checkpoint, not a later config, defines the adapter.
     */
    record Info(String adapter, int round, int rounds, int steps, double learningRateScale, String fingerprint, String modelSha256,
                TrainConfig config) { }

    /** @param infoJson checkpoint.json as written, for what binding {@code info} fills in (see {@link TrainPlan#madeBy}) */
    record Loaded(Info info, JsonNode infoJson, TrainState state) { }

    private Checkpoints() { }

    static String roundName(int round) {
        return String.format("round-%06d", round);
    }

    static void write(Configuration conf, Path dir, String name, TrainState state, Info info) throws IOException {
        try (OutputFolder out = OutputFolder.begin(new Path(dir, name).toString(), conf, true)) {
            FileSystem fs = out.fileSystem();
            Map<String, INDArray> tensors = new LinkedHashMap<>();
            tensors.put("values", Nd4j.createFromArray(state.values()));
            if (state.optimizerState().length > 0) tensors.put("optimizer_state", Nd4j.createFromArray(state.optimizerState()));
            try (var o = fs.create(new Path(out.temp(), STATE), false)) {
                o.write(SafetensorsWriter.toBytes(tensors, Map.of("format", "lorafleet-train-state", "steps", Integer.toString(state.steps()))));
            }
            try (var o = fs.create(new Path(out.temp(), INFO), false)) {
                o.write(YamlConfig.json().writeValueAsBytes(info));
            }
            out.commit();
            OutputFolder.writeFile(fs, new Path(out.target(), COMPLETE), new byte[0]);
        }
    }

    /** The complete checkpoint with the highest round, if any. */
    static Optional<Loaded> latest(Configuration conf, Path dir) throws IOException {
        FileSystem fs = dir.getFileSystem(conf);
        if (!fs.exists(dir)) return Optional.empty();
        Path best = null;
        for (FileStatus s : fs.listStatus(dir)) {
            String name = s.getPath().getName();
            if (!s.isDirectory() || !name.matches("round-\\d{6}") || !fs.exists(new Path(s.getPath(), COMPLETE))) continue;
            if (best == null || name.compareTo(best.getName()) > 0) best = s.getPath();
        }
        return best == null ? Optional.empty() : Optional.of(read(conf, best));
    }

    static Loaded read(Configuration conf, Path checkpoint) throws IOException {
        HadoopModelFiles files = new HadoopModelFiles(checkpoint.toString(), conf);
        if (!files.exists(COMPLETE)) throw new IOException(checkpoint + ": incomplete checkpoint (no " + COMPLETE + ")");
        JsonNode infoJson = YamlConfig.json().readTree(files.readAll(INFO));
        Info info = YamlConfig.bind(infoJson, Info.class, files.describe(INFO));
        try (SafetensorsReader reader = SafetensorsReader.open(files.open(STATE), files.describe(STATE))) {
            float[] values = reader.read("values").toFloatVector();
            float[] optimizer = reader.tensors().containsKey("optimizer_state") ? reader.read("optimizer_state").toFloatVector() : new float[0];
            return new Loaded(info, infoJson, new TrainState(values, optimizer, info.steps()));
        }
    }
}
