package io.lorafleet.spark;

import io.lorafleet.io.HfConfig;
import io.lorafleet.io.PretrainedModel;
import io.lorafleet.io.SafetensorsWriter;
import org.apache.hadoop.conf.Configuration;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code lorafleet merge --model DIR --adapter DIR --out DIR [--overwrite]}: writes a plain model folder
 * (config.json, model.safetensors in HF layout, tokenizer.json) whose weights are W + s·B·A; the adapter's
 * trained head rides along as {@code classifier.*}. Our loader reads it as any other base model.
 */
public final class MergeAdapter {
    static final String USAGE = "lorafleet merge --model DIR --adapter DIR --out DIR [--overwrite] [--take-over]";

    public static void main(String[] args) {
        SparkJobs.main(USAGE, args, line -> {
            System.out.println("merged → " + run(args, SparkJobs.hadoopConf()));
            return 0;
        });
    }

    static String run(String[] args, Configuration conf) throws IOException {
        CommandLine line = CommandLine.parse(USAGE, args);
        OutputFolder.requireAbsent(line.value("--out", null), conf, line.flag("--overwrite"));
        try (OutputLease lease = OutputLease.acquire("merge", List.of(line.value("--out", null)), conf, line.flag("--take-over"))) {
            return merge(line, conf);
        }
    }

    private static String merge(CommandLine line, Configuration conf) throws IOException {
        LoadedAdapter loaded = LoadedAdapter.load(line.value("--model", null), line.value("--adapter", null), conf);
        loaded.adapter().mergeInto(loaded.base().weights(), loaded.base().config());
        Map<String, org.nd4j.linalg.api.ndarray.INDArray> tensors = new LinkedHashMap<>(loaded.base().weights().asMap());
        tensors.putAll(loaded.adapter().headTensors());
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put(PretrainedModel.CONFIG, HfConfig.write(loaded.base().config()));
        files.put(PretrainedModel.WEIGHTS, SafetensorsWriter.toBytes(tensors, Map.of("format", "pt")));
        files.put(PretrainedModel.TOKENIZER, loaded.baseFiles().readAll(PretrainedModel.TOKENIZER));
        return AdapterFolder.write(line.value("--out", null), files, conf, line.flag("--overwrite")).toString();
    }
}
