package io.lorafleet.spark;

import com.fasterxml.jackson.databind.JsonNode;
import io.lorafleet.datasets.DatasetSpec;
import io.lorafleet.datasets.YamlConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The demo's main end to end on its own config files (conf/demo-*.yaml), reduced: 48 tokens a row and a few
 * rounds per adapter instead of 1-2 epochs. Both real tasks (IMDB sentiment, Brown genre) are tokenized,
 * trained together, exported in PEFT format, evaluated on their test splits and reported.
 */
class DemoTest {
    static final Path ROOT = Path.of("..").toAbsolutePath().normalize();

    @Test
    void demoPipelineProducesBothAdaptersTheirTestMetricsAndTheReport(@TempDir Path tmp) throws Exception {
        Path tokenizeYaml = ROOT.resolve("conf/demo-tokenize.yaml"), trainYaml = ROOT.resolve("conf/demo-train.yaml");
        DatasetSpec tokenize = DatasetSpec.load(Files.readAllBytes(tokenizeYaml), tokenizeYaml.toString(), List.of(
                "tokenizer=" + MiniLm.folder(), "max_length=48", "output=" + tmp.resolve("shards"),
                "tasks.0.inputs=[" + ROOT.resolve("datasets/imdb/sample/imdb-sample.jsonl") + "]",
                "tasks.1.inputs=[" + ROOT.resolve("datasets/brown/sample/brown-sample.jsonl") + "]"));
        TrainConfig train = TrainConfig.load(Files.readAllBytes(trainYaml), trainYaml.toString(), List.of(
                "model=" + MiniLm.folder(), "shards=" + tmp.resolve("shards"), "output=" + tmp.resolve("adapters"), "report=" + tmp.resolve("run"),
                "adapters.0.epochs=0.25", "adapters.1.epochs=0.15", "eval_every=2"));

        Map<String, Object> test = Demo.run(SparkTestSession.get(), tokenize, train);

        assertEquals(List.of("imdb", "brown"), List.copyOf(test.keySet()));
        for (String adapter : List.of("imdb", "brown")) {
            Path folder = tmp.resolve("adapters").resolve(adapter);
            for (String f : List.of("adapter_model.safetensors", "adapter_config.json", "lorafleet.json", "metrics.json", "report.html", "_COMPLETE")) {
                assertTrue(Files.exists(folder.resolve(f)), adapter + "/" + f);
            }
            Map<?, ?> metrics = (Map<?, ?>) test.get(adapter);
            double accuracy = ((Number) metrics.get("accuracy")).doubleValue();
            assertTrue(accuracy > 0 && accuracy <= 1, adapter + " test accuracy " + accuracy);
            String page = Files.readString(folder.resolve("report.html"));
            assertTrue(page.contains("Adapter " + adapter) && page.contains("data:image/png;base64,"), "adapter report with charts");
        }
        JsonNode brownConfig = YamlConfig.json().readTree(tmp.resolve("adapters/brown/adapter_config.json").toFile());
        assertEquals(16, brownConfig.get("r").asInt(), "brown's own rank from conf/demo-train.yaml");
        JsonNode testJson = YamlConfig.json().readTree(tmp.resolve("run/test-metrics.json").toFile());
        assertEquals(15, testJson.get("brown").get("per_label").size(), "one entry per Brown genre");

        JsonNode summary = YamlConfig.json().readTree(tmp.resolve("run/summary.json").toFile());
        assertEquals(2, summary.get("run").get("done").asInt());
        assertEquals(1, summary.get("run").get("waves").asInt(), "both adapters trained together");
        String report = Files.readString(tmp.resolve("run/report.html"));
        assertTrue(report.contains("imdb") && report.contains("brown") && report.split("data:image/png;base64,").length == 3,
                "run report: loss curves and final accuracies drawn, both adapters listed");
        JsonNode history = YamlConfig.json().readTree(tmp.resolve("adapters/imdb/metrics.json").toFile());
        assertTrue(history.get("evaluation").get("accuracy").isNumber());
    }
}
