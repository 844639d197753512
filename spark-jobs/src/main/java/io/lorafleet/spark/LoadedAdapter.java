package io.lorafleet.spark;

import com.fasterxml.jackson.databind.JsonNode;
import io.lorafleet.datasets.YamlConfig;
import io.lorafleet.io.PeftAdapter;
import io.lorafleet.io.PretrainedModel;
import io.lorafleet.model.SequenceClassifier;
import org.apache.hadoop.conf.Configuration;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * A base model and one of its adapters, loaded from any Hadoop URI after checking that they belong
 * together: the adapter must be complete and must have been trained on exactly this base (content hash).
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
        return new LoadedAdapter(base, model, PeftAdapter.read(files, base.config()), info, adapterUri);
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
