package io.lorafleet.spark;

import com.fasterxml.jackson.databind.JsonNode;
import io.lorafleet.datasets.YamlConfig;
import io.lorafleet.io.PeftAdapter;
import io.lorafleet.io.PretrainedModel;
import io.lorafleet.model.SequenceClassifier;
import org.apache.hadoop.conf.Configuration;

import io.lorafleet.nn.LoraConfig;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A base model and one of its adapters, loaded from any Hadoop URI after checking that they belong
 * together: the adapter must be complete, must have been trained on exactly this base (content hash), its
 * adapter_config.json must say what lorafleet.json records it trained with, and its tensors must be exactly
 * the ones those settings give this model, shape for shape (no more, no fewer).
 */
record LoadedAdapter(PretrainedModel base, HadoopModelFiles baseFiles, PeftAdapter adapter, JsonNode info, String adapterUri) {
    static LoadedAdapter load(String modelUri, String adapterUri, Configuration conf) throws IOException {
        HadoopModelFiles model = new HadoopModelFiles(modelUri, conf);
        HadoopModelFiles files = new HadoopModelFiles(adapterUri, conf);
        PeftAdapter.requireComplete(files); // before lorafleet.json is trusted
        JsonNode info = YamlConfig.json().readTree(files.readAll(PeftAdapter.INFO));
        String expected = info.path("base_model_sha256").asText();
        String actual = PretrainedModel.contentHash(model);
        if (!actual.equals(expected)) {
            throw new IOException(adapterUri + " was trained on a base model with SHA-256 " + expected + " (" + info.path("base_model").asText()
                    + "), but " + modelUri + " has SHA-256 " + actual + "; refusing to apply it to another model");
        }
        PretrainedModel base = PretrainedModel.load(model);
        PeftAdapter adapter = PeftAdapter.read(files, base.config());
        requireTrainedSettings(adapter.lora(), info, files.describe(PeftAdapter.CONFIG));
        LoadedAdapter loaded = new LoadedAdapter(base, model, adapter, info, adapterUri);
        if (adapter.taskType() == PeftAdapter.TaskType.CAUSAL_LM) loaded.causalLm();
        else loaded.classifier();
        return loaded;
    }

    /** adapter_config.json is what PEFT reads; lorafleet.json records what the tensors were trained with: they must agree. */
    private static void requireTrainedSettings(LoraConfig said, JsonNode info, String source) throws IOException {
        JsonNode training = info.path("training");
        if (training.isMissingNode()) throw new IOException(source + ": lorafleet.json records no training settings to check the adapter against");
        // what an adapter that started from W (PiSSA, OLoRA) is written as: plain LoRA at twice the rank
        LoraConfig trained = YamlConfig.bind(training, TrainConfig.class, "lorafleet.json training").lora().convertedFromWeight();
        Map<String, List<Object>> keys = new LinkedHashMap<>();
        keys.put("r", List.of(said.r(), trained.r()));
        keys.put("lora_alpha", List.of(said.alpha(), trained.alpha()));
        keys.put("target_modules", List.of(new java.util.TreeSet<>(said.targetModules()), new java.util.TreeSet<>(trained.targetModules()))); // PEFT saves a set
        keys.put("use_rslora", List.of(said.rsLora(), trained.rsLora()));
        keys.put("use_dora", List.of(said.useDora(), trained.useDora()));
        keys.put("init_lora_weights", List.of(said.init(), trained.init()));
        keys.put("rank_pattern", List.of(said.rankPattern(), trained.rankPattern()));
        keys.put("alpha_pattern", List.of(said.alphaPattern(), trained.alphaPattern()));
        for (Map.Entry<String, List<Object>> k : keys.entrySet()) {
            if (!inOrder(k.getValue().get(0)).equals(inOrder(k.getValue().get(1)))) {
                throw new IOException(source + ": " + k.getKey() + " is " + k.getValue().get(0) + ", but lorafleet.json records that the adapter trained with "
                        + k.getValue().get(1) + "; refusing an adapter whose config does not describe its tensors");
            }
        }
    }

    /** A pattern map's entries in order (the first matching key wins); other values as they are. */
    private static Object inOrder(Object value) {
        return value instanceof Map<?, ?> m ? List.copyOf(m.entrySet()) : value;
    }

    List<String> labels() {
        List<String> labels = new ArrayList<>();
        info.path("labels").forEach(l -> labels.add(l.asText()));
        return labels;
    }

    SequenceClassifier.Pooling pooling() {
        return SequenceClassifier.Pooling.valueOf(info.path("pooling").asText("MEAN"));
    }

    /** A causal LM with the adapter's tensors in place (unmerged). */
    io.lorafleet.model.CausalLm causalLm() throws IOException {
        io.lorafleet.model.CausalLm model = io.lorafleet.model.CausalLm.create(base.config(), base.weights(), adapter.lora(), 0);
        adapter.loadInto(model, adapterUri);
        return model;
    }

    /** The classifier with the adapter's tensors in place (unmerged). */
    SequenceClassifier classifier() throws IOException {
        SequenceClassifier model = SequenceClassifier.create(base.config(), base.weights(), adapter.lora(), labels().size(), pooling(), 0);
        adapter.loadInto(model, adapterUri);
        return model;
    }
}
