package io.lorafleet.spark;

import io.lorafleet.io.HfConfig;
import io.lorafleet.io.PretrainedModel;
import io.lorafleet.io.SafetensorsWriter;
import org.apache.hadoop.conf.Configuration;

import java.io.IOException;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code lorafleet merge --model DIR --adapter DIR --out DIR [--overwrite]}: writes a plain model folder
 * (config.json, model.safetensors in HF layout, tokenizer.json) whose weights are W + s·B·A; the adapter's
 * trained head rides along as {@code classifier.*}. Our loader reads it as any other base model.
 */
public final class MergeAdapter {
    public static void main(String[] args) {
        try {
            System.out.println("merged → " + run(args, new Configuration()));
        } catch (IOException | IllegalArgumentException e) {
            System.err.println("lorafleet merge: " + e.getMessage());
            System.exit(1);
        }
    }

    static String run(String[] args, Configuration conf) throws IOException {
        Map<String, String> a = options(args, List.of("--model", "--adapter", "--out"), List.of("--overwrite"),
                "lorafleet merge --model DIR --adapter DIR --out DIR [--overwrite]");
        LoadedAdapter loaded = LoadedAdapter.load(a.get("--model"), a.get("--adapter"), conf);
        loaded.adapter().mergeInto(loaded.base().weights(), loaded.base().config());
        Map<String, org.nd4j.linalg.api.ndarray.INDArray> tensors = new LinkedHashMap<>(loaded.base().weights().asMap());
        tensors.putAll(loaded.adapter().headTensors());
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put(PretrainedModel.CONFIG, HfConfig.write(loaded.base().config()));
        files.put(PretrainedModel.WEIGHTS, SafetensorsWriter.toBytes(tensors, Map.of("format", "pt")));
        files.put(PretrainedModel.TOKENIZER, loaded.baseFiles().readAll(PretrainedModel.TOKENIZER));
        return AdapterFolder.write(a.get("--out"), files, conf, a.containsKey("--overwrite")).toString();
    }

    /** Parses {@code --key value} options (and bare flags listed as optional without a value following). */
    static Map<String, String> options(String[] args, List<String> required, List<String> optional, String usage) {
        Map<String, String> found = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            String key = args[i];
            if (!required.contains(key) && !optional.contains(key)) throw new IllegalArgumentException("unknown argument " + key + "\nusage: " + usage);
            boolean flag = i + 1 >= args.length || args[i + 1].startsWith("--");
            found.put(key, flag ? "" : args[++i]);
        }
        for (String r : required) {
            if (found.getOrDefault(r, "").isEmpty()) throw new IllegalArgumentException(r + " is required\nusage: " + usage);
        }
        return found;
    }
}
