package io.lorafleet.spark;

import io.lorafleet.io.HfConfig;
import io.lorafleet.io.PeftAdapter;
import io.lorafleet.io.PretrainedModel;
import io.lorafleet.io.SafetensorsWriter;
import io.lorafleet.model.SequenceClassifier;
import io.lorafleet.model.TransformerConfig;
import org.apache.hadoop.conf.Configuration;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code lorafleet merge --model DIR --adapter DIR --out DIR [--overwrite]}: writes a plain model folder
 * (config.json, model.safetensors in HF layout, tokenizer.json, the base's generation_config.json) whose weights are W + s·B·A. An adapter with
 * Hugging Face's own head ({@code head.pooling: hf}) becomes that architecture's *ForSequenceClassification folder,
 * labels included, which AutoModelForSequenceClassification loads with our logits; otherwise the trained head rides
 * along as {@code classifier.*} beside the body. Our loader reads either as any other base model.
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
        TransformerConfig config = loaded.base().config();
        loaded.adapter().mergeInto(loaded.base().weights(), config);
        boolean taskModel = loaded.adapter().taskType() == PeftAdapter.TaskType.SEQ_CLS && loaded.pooling() == SequenceClassifier.Pooling.HF;
        String body = taskModel ? PeftAdapter.bodyPrefix(config) : "";
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        loaded.base().weights().asMap().forEach((name, t) -> tensors.put(body + name, t));
        loaded.adapter().headTensors().forEach((name, t) -> tensors.put(PeftAdapter.isTaskHead(name) ? name : body + name, t));
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put(PretrainedModel.CONFIG, taskModel ? HfConfig.writeClassifier(config, loaded.labels()) : HfConfig.write(config));
        files.put(PretrainedModel.WEIGHTS, SafetensorsWriter.toBytes(tensors, Map.of("format", "pt")));
        files.put(PretrainedModel.TOKENIZER, loaded.baseFiles().readAll(PretrainedModel.TOKENIZER));
        if (loaded.baseFiles().exists(Generate.GENERATION_CONFIG)) { // end-of-text ids and generation defaults, as the base has them
            files.put(Generate.GENERATION_CONFIG, loaded.baseFiles().readAll(Generate.GENERATION_CONFIG));
        }
        return AdapterFolder.write(line.value("--out", null), files, conf, line.flag("--overwrite")).toString();
    }
}
