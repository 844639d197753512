package io.lorafleet.spark;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lorafleet.datasets.Manifest;
import io.lorafleet.datasets.ShardRow;
import io.lorafleet.datasets.YamlConfig;
import io.lorafleet.io.PeftAdapter;
import io.lorafleet.model.SequenceClassifier;
import io.lorafleet.optim.OptimizerConfig;
import io.lorafleet.train.Trainer;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code lorafleet eval --model DIR --adapter DIR --data SHARDS [--split test] [--batch-size 32] [--predictions FILE]}: applies
 * an adapter to its base (merged: W + s·B·A, no extra inference cost), scores a split of the shards, prints loss,
 * accuracy and macro-F1, and records them under {@code eval.<split>} in the adapter's metrics.json. With
 * {@code --predictions}, one JSON line per row: where it came from (source, line, row_id), its token ids, and for a
 * classifier its label, the predicted label and the logits; for a causal LM the log-probability of each token after
 * the first.
 */
public final class EvalAdapter {
    static final String USAGE = "lorafleet eval --model DIR --adapter DIR --data SHARDS [--split test] [--batch-size 32] [--predictions FILE] "
            + "[--overwrite]";

    public static void main(String[] args) {
        SparkJobs.main(USAGE, args, line -> {
            System.out.println(YamlConfig.json().writeValueAsString(run(line, SparkJobs.hadoopConf())));
            return 0;
        });
    }

    static Map<String, Object> run(String[] args, Configuration conf) throws IOException {
        return run(CommandLine.parse(USAGE, args), conf);
    }

    private static Map<String, Object> run(CommandLine line, Configuration conf) throws IOException {
        String data = line.value("--data", null), split = line.value("--split", "test");
        int batchSize;
        try {
            batchSize = Integer.parseInt(line.value("--batch-size", "32"));
        } catch (NumberFormatException e) {
            throw line.problem("--batch-size must be a whole number, not " + line.value("--batch-size", ""));
        }
        if (batchSize < 1) throw line.problem("--batch-size must be at least 1");
        String predictions = line.value("--predictions", null);
        if (predictions != null) OutputFolder.requireAbsent(predictions, conf, line.flag("--overwrite"));
        LoadedAdapter loaded = LoadedAdapter.load(line.value("--model", null), line.value("--adapter", null), conf);
        String adapterId = loaded.info().path("adapter_id").asText();
        Manifest manifest = Manifest.parse(SparkJobs.readFile(new Path(data, Manifest.FILE).toString(), conf), data);
        String fingerprint = loaded.info().path("tokenizer_fingerprint").asText(null);
        boolean same = fingerprint != null && manifest.tokenizerFingerprint() != null ? fingerprint.equals(manifest.tokenizerFingerprint())
                : manifest.tokenizerSha256().equals(loaded.info().path("tokenizer_sha256").asText());
        if (!same) {
            throw new IOException(data + " was tokenized with another tokenizer than the adapter was trained with");
        }
        List<ShardRow> rows = ExecutorCache.rows(data, manifest, adapterId, split, conf);
        if (rows.isEmpty()) throw new IOException(data + ": no rows of adapter " + adapterId + " in split " + split);

        StringBuilder lines = predictions == null ? null : new StringBuilder();
        Map<String, Object> metrics = loaded.adapter().taskType() == PeftAdapter.TaskType.CAUSAL_LM
                ? languageModelMetrics(loaded, rows, batchSize, lines) : classificationMetrics(loaded, rows, batchSize, lines);
        if (lines != null) {
            Path file = new Path(predictions);
            OutputFolder.writeFile(file.getFileSystem(conf), file, lines.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }
        try {
            recordInAdapter(loaded.adapterUri(), split, metrics, conf);
        } catch (IOException | RuntimeException e) {
            String oneLine = YamlConfig.jsonLine(metrics);
            throw new IOException("computed " + oneLine + " but could not record it in "
                    + new Path(loaded.adapterUri(), PeftAdapter.METRICS) + ": " + e.getMessage(), e);
        }
        return metrics;
    }

    /** @param predictions where each row's prediction line goes, or null */
    private static Map<String, Object> classificationMetrics(LoadedAdapter loaded, List<ShardRow> rows, int batchSize, StringBuilder predictions)
            throws IOException {
        SequenceClassifier model = loaded.classifier();
        model.merge();
        int labels = loaded.labels().size();
        long[][] confusion = new long[labels][labels];
        double lossSum = 0;
        try (Trainer scorer = new Trainer(model, OptimizerConfig.sgd(1e-3))) {
            for (int from = 0; from < rows.size(); from += batchSize) {
                List<ShardRow> batch = new ArrayList<>(rows.subList(from, Math.min(rows.size(), from + batchSize)));
                Trainer.Classified classified = scorer.classify(Batches.pad(batch, false));
                lossSum += classified.meanLoss() * batch.size();
                for (int i = 0; i < batch.size(); i++) {
                    ShardRow row = batch.get(i);
                    confusion[row.label()][(int) classified.predicted()[i]]++;
                    if (predictions != null) {
                        Map<String, Object> label = new LinkedHashMap<>();
                        label.put("label", loaded.labels().get(row.label()));
                        label.put("predicted", loaded.labels().get((int) classified.predicted()[i]));
                        predictions.append(predictionLine(row, label, "logits", classified.logits()[i]));
                    }
                }
            }
        }
        return metrics(confusion, lossSum / rows.size(), rows.size(), loaded.labels());
    }

    /** One row's line: where it came from, its token ids, {@code fields}, then {@code key}: its logits or token log-probabilities. */
    private static String predictionLine(ShardRow row, Map<String, Object> fields, String key, Object values) throws IOException {
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("source", row.source());
        line.put("line", row.line());
        line.put("row_id", row.rowId());
        line.put("input_ids", row.inputIds());
        line.putAll(fields);
        line.put(key, values);
        return YamlConfig.jsonLine(line) + "\n";
    }

    /** Token-weighted mean loss of a causal LM over the split and its perplexity, exp(loss). */
    private static Map<String, Object> languageModelMetrics(LoadedAdapter loaded, List<ShardRow> rows, int batchSize, StringBuilder predictions)
            throws IOException {
        io.lorafleet.model.CausalLm model = loaded.causalLm();
        model.merge();
        Trainer.Evaluation total = new Trainer.Evaluation(0, 0, 0);
        try (Trainer scorer = new Trainer(model, OptimizerConfig.sgd(1e-3))) {
            for (int from = 0; from < rows.size(); from += batchSize) {
                List<ShardRow> batch = rows.subList(from, Math.min(rows.size(), from + batchSize));
                total = total.plus(TrainWorker.score(scorer, batch, true));
                if (predictions == null) continue;
                double[][] logProbs = scorer.nextTokenLogProbs(Batches.pad(batch, true));
                for (int i = 0; i < batch.size(); i++) predictions.append(predictionLine(batch.get(i), Map.of(), "token_logprobs", logProbs[i]));
            }
        }
        double loss = total.lossSum() / total.examples();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("examples", rows.size());
        m.put("predicted_tokens", total.examples());
        m.put("loss", loss);
        m.put("perplexity", Math.exp(loss));
        return m;
    }

    /** Accuracy and macro-F1 from a confusion matrix [true][predicted]. */
    static Map<String, Object> metrics(long[][] confusion, double loss, long examples, List<String> labels) {
        long correct = 0;
        double f1Sum = 0;
        Map<String, Object> perLabel = new LinkedHashMap<>();
        for (int k = 0; k < confusion.length; k++) {
            correct += confusion[k][k];
            long predicted = 0, actual = 0;
            for (int j = 0; j < confusion.length; j++) {
                predicted += confusion[j][k];
                actual += confusion[k][j];
            }
            double precision = predicted == 0 ? 0 : confusion[k][k] / (double) predicted, recall = actual == 0 ? 0 : confusion[k][k] / (double) actual;
            double f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
            f1Sum += f1;
            perLabel.put(labels.get(k), Map.of("precision", precision, "recall", recall, "f1", f1, "support", actual));
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("examples", examples);
        m.put("loss", loss);
        m.put("accuracy", correct / (double) examples);
        m.put("macro_f1", f1Sum / confusion.length);
        m.put("per_label", perLabel);
        return m;
    }

    private static void recordInAdapter(String adapterUri, String split, Map<String, Object> metrics, Configuration conf) throws IOException {
        Path file = new Path(adapterUri, PeftAdapter.METRICS);
        ObjectNode all = (ObjectNode) YamlConfig.json().readTree(SparkJobs.readFile(file.toString(), conf));
        ((ObjectNode) (all.has("eval") ? all.get("eval") : all.putObject("eval"))).set(split, YamlConfig.json().valueToTree(metrics));
        OutputFolder.writeFile(file.getFileSystem(conf), file, YamlConfig.json().writeValueAsBytes(all));
    }
}
