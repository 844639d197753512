package io.lorafleet.spark;

import io.lorafleet.datasets.YamlConfig;
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
        files.put(PretrainedModel.CONFIG, withTokenIds(taskModel ? HfConfig.writeClassifier(config, loaded.labels()) : HfConfig.write(config),
                loaded.baseFiles().readAll(PretrainedModel.CONFIG)));
        files.put(PretrainedModel.WEIGHTS, SafetensorsWriter.toBytes(tensors, Map.of("format", "pt")));
        files.put(PretrainedModel.TOKENIZER, loaded.baseFiles().readAll(PretrainedModel.TOKENIZER));
        if (loaded.baseFiles().exists(Generate.GENERATION_CONFIG)) { // end-of-text ids and generation defaults, as the base has them
            files.put(Generate.GENERATION_CONFIG, loaded.baseFiles().readAll(Generate.GENERATION_CONFIG));
        }
        return AdapterFolder.write(line.value("--out", null), files, conf, line.flag("--overwrite")).toString();
    }

    /**
     * The base config.json's bos, eos and pad token ids on our written config: we do not model them, and without them
     * transformers falls back to its class defaults (Llama's bos 1, eos 2), which generation stops at.
     */
    static byte[] withTokenIds(byte[] written, byte[] base) throws IOException {
        com.fasterxml.jackson.databind.node.ObjectNode out = (com.fasterxml.jackson.databind.node.ObjectNode) YamlConfig.json().readTree(written);
        com.fasterxml.jackson.databind.JsonNode from = YamlConfig.json().readTree(base);
        for (String key : List.of("bos_token_id", "eos_token_id", "pad_token_id")) {
            if (from.hasNonNull(key)) out.set(key, from.get(key));
        }
        return YamlConfig.json().writerWithDefaultPrettyPrinter().writeValueAsBytes(out);
    }
}
