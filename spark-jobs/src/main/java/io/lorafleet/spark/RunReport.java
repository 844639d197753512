package io.lorafleet.spark;

import io.lorafleet.datasets.YamlConfig;
import io.lorafleet.io.PeftAdapter;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a train run leaves for people: each adapter's metrics.json and report.html (its curves), and the run's
 * summary.json and report.html listing every adapter with status, reason, settings, metrics, size and time.
 */
public final class RunReport {
    public static final String SUMMARY = "summary.json";
    public static final String HTML = "report.html";

    private RunReport() { }

    /**
     * summary.json in the report folder: the run's totals and, per adapter, status, reason, settings, metrics, size and time.
     *
     * @param memory the planner's estimate of an executor's peak memory, or null when nothing trained
     */
    static void write(TrainConfig config, TrainPlan.Prepared p, List<AdapterRun> runs, double seconds, TrainPlan.MemoryEstimate memory,
                      Configuration conf) throws IOException {
        Path dir = new Path(config.report());
        FileSystem fs = dir.getFileSystem(conf);
        fs.mkdirs(dir);
        List<Map<String, Object>> adapters = new ArrayList<>();
        long tokens = 0;
        for (AdapterRun run : runs) {
            adapters.add(entry(run, p, fs));
            tokens += run.tokens();
        }
        Map<String, Object> run = new LinkedHashMap<>();
        run.put("base_model", config.model());
        run.put("base_model_sha256", p.modelHash());
        run.put("shards", config.shards());
        run.put("output", config.output());
        run.put("adapters", runs.size());
        for (AdapterRun.Status s : AdapterRun.Status.values()) run.put(s.name().toLowerCase(java.util.Locale.ROOT), runs.stream().filter(r -> r.status() == s).count());
        run.put("waves", runs.stream().mapToInt(AdapterRun::wave).max().orElse(-1) + 1);
        run.put("wall_seconds", seconds);
        run.put("tokens", tokens);
        run.put("tokens_per_second", tokens / seconds);
        if (memory != null) run.put("memory_estimate_mb", memory.totalBytes() >> 20);
        run.put("exit_code", AdapterRun.exitCode(runs));
        run.put("lorafleet_version", SparkJobs.version());
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("run", run);
        summary.put("adapters", adapters);
        OutputFolder.writeFile(fs, new Path(dir, SUMMARY), YamlConfig.json().writeValueAsBytes(summary));
        OutputFolder.writeFile(fs, new Path(dir, HTML), runHtml(run, adapters, runs, p.manifest().languageModel()));
    }

    private static byte[] runHtml(Map<String, Object> totals, List<Map<String, Object>> adapters, List<AdapterRun> runs, boolean causalLm)
            throws IOException {
        HtmlReport html = new HtmlReport("LoRAFleet train run: " + totals.get("adapters") + " adapter(s)");
        html.paragraph(String.format("Base model %s (SHA-256 %s…), shards %s. %s done, %s failed, %s already exported, in %s wave(s); %.0f s, %,.0f tokens/s.",
                totals.get("base_model"), String.valueOf(totals.get("base_model_sha256")).substring(0, 12), totals.get("shards"), totals.get("done"),
                totals.get("failed"), totals.get("existing"), totals.get("waves"), (Double) totals.get("wall_seconds"), (Double) totals.get("tokens_per_second")));
        List<HtmlReport.Line> losses = new ArrayList<>();
        Map<String, Double> finals = new LinkedHashMap<>();
        for (AdapterRun r : runs) {
            if (!r.history().isEmpty()) losses.add(new HtmlReport.Line(r.adapter(), curve(r.history(), "loss")));
            if (r.status() == AdapterRun.Status.DONE && r.evaluation() != null && r.evaluation().examples() > 0) {
                finals.put(r.adapter(), causalLm ? Math.exp(r.evaluation().lossSum() / r.evaluation().examples()) : r.accuracy());
            }
        }
        if (!losses.isEmpty()) html.lineChart("Training loss per round", "round", "loss", losses);
        String split = runs.isEmpty() ? "" : " on " + runs.get(0).config().evalSplit();
        if (!finals.isEmpty()) html.barChart((causalLm ? "Final perplexity" : "Final accuracy") + split, causalLm ? "perplexity" : "accuracy", finals);
        List<List<String>> table = new ArrayList<>();
        table.add(List.of("adapter", "status", "r", "target modules", "learning rate", "trainable params", "rounds", "train loss",
                causalLm ? "eval perplexity" : "eval accuracy", "size", "seconds", "reason / path"));
        for (Map<String, Object> a : adapters) {
            Map<?, ?> params = (Map<?, ?>) a.getOrDefault("params", Map.of());
            Map<?, ?> eval = (Map<?, ?>) a.getOrDefault("evaluation", Map.of());
            table.add(List.of(str(a.get("adapter_id")), str(a.get("status")), str(params.get("r")), str(params.get("target_modules")),
                    str(params.get("learning_rate")), str(a.get("trainable_params")), str(a.get("rounds")), number(a.get("final_train_loss")),
                    number(eval.get(causalLm ? "perplexity" : "accuracy")), a.containsKey("size_bytes") ? String.format("%.1f KB", ((Number) a.get("size_bytes")).longValue() / 1024.0) : "",
                    number(a.get("wall_seconds")), a.containsKey("reason") ? str(a.get("reason")) : str(a.get("path"))));
        }
        return html.heading("Adapters").table(table).bytes();
    }

    /** One adapter's page: its training loss, and its evaluation loss and accuracy (or perplexity) where they were measured. */
    static byte[] adapterHtml(AdapterRun run, boolean causalLm) throws IOException {
        HtmlReport html = new HtmlReport("Adapter " + run.adapter());
        html.paragraph(String.format("r=%d, alpha %s on %s; %d rounds, %,d examples, %,d tokens in %.0f s. %s.", run.config().lora().r(),
                run.config().lora().alpha(), run.config().lora().targetModules(), run.rounds(), run.examples(), run.tokens(), run.seconds(),
                describe(run, causalLm)));
        List<HtmlReport.Line> loss = new ArrayList<>(List.of(new HtmlReport.Line("training", curve(run.history(), "loss"))));
        List<double[]> evalLoss = curve(run.history(), "eval_loss");
        if (!evalLoss.isEmpty()) loss.add(new HtmlReport.Line(run.config().evalSplit(), evalLoss));
        html.lineChart("Loss", "round", "loss", loss);
        List<double[]> quality = curve(run.history(), causalLm ? "eval_perplexity" : "eval_accuracy");
        if (!quality.isEmpty()) {
            html.lineChart((causalLm ? "Perplexity" : "Accuracy") + " on " + run.config().evalSplit(), "round", causalLm ? "perplexity" : "accuracy",
                    List.of(new HtmlReport.Line(run.config().evalSplit(), quality)));
        }
        List<List<String>> table = new ArrayList<>();
        table.add(List.of("round", "loss", "tokens/s", "eval loss", causalLm ? "eval perplexity" : "eval accuracy", "learning-rate scale"));
        for (Map<String, Object> m : run.history()) {
            table.add(List.of(str(m.get("round")), number(m.get("loss")), number(m.get("tokens_per_second")), number(m.get("eval_loss")),
                    number(m.get(causalLm ? "eval_perplexity" : "eval_accuracy")), str(m.get("learning_rate_scale"))));
        }
        return html.heading("Rounds").table(table).bytes();
    }

    /** Adds an evaluation's loss and accuracy (perplexity for a causal LM) to a metrics line. */
    static void putEvaluation(Map<String, Object> line, io.lorafleet.train.Trainer.Evaluation e, boolean causalLm) {
        if (e.examples() == 0) return;
        double loss = e.lossSum() / e.examples();
        line.put("eval_loss", loss);
        if (causalLm) line.put("eval_perplexity", Math.exp(loss));
        else line.put("eval_accuracy", e.correct() / (double) e.examples());
    }

    private static List<double[]> curve(List<Map<String, Object>> history, String key) {
        List<double[]> points = new ArrayList<>();
        for (Map<String, Object> m : history) {
            if (m.get(key) instanceof Number n) points.add(new double[] {((Number) m.get("round")).doubleValue(), n.doubleValue()});
        }
        return points;
    }

    private static String str(Object o) {
        return o == null ? "" : String.valueOf(o);
    }

    private static String number(Object o) {
        return o instanceof Number n ? String.format("%.4g", n.doubleValue()) : str(o);
    }

    private static Map<String, Object> entry(AdapterRun run, TrainPlan.Prepared p, FileSystem fs) throws IOException {
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("adapter_id", run.adapter());
        e.put("status", run.status().name().toLowerCase(java.util.Locale.ROOT));
        if (run.failure() != null) e.put("reason", run.failure());
        if (run.wave() >= 0) e.put("wave", run.wave() + 1);
        TrainConfig c = run.config();
        if (c.lora() != null) {
            Map<String, Object> params = new LinkedHashMap<>();
            params.put("r", c.lora().r());
            params.put("alpha", c.lora().alpha());
            params.put("target_modules", c.lora().targetModules());
            params.put("learning_rate", c.optimizer().learningRate());
            if (c.optimizer().loraplusLrRatio() != 1) params.put("loraplus_lr_ratio", c.optimizer().loraplusLrRatio());
            params.put(c.rounds() != null ? "rounds" : "epochs", c.rounds() != null ? c.rounds() : c.epochs());
            params.put("seed", c.seed());
            e.put("params", params);
        }
        if (run.status() == AdapterRun.Status.DONE) e.putAll(metrics(run, p));
        if (run.path() != null) {
            e.put("path", run.path());
            Path weights = new Path(run.path(), PeftAdapter.WEIGHTS);
            if (fs.exists(weights)) e.put("size_bytes", fs.getFileStatus(weights).getLen());
        }
        return e;
    }

    /** metrics.json of one trained adapter. */
    static byte[] metricsJson(AdapterRun run, TrainPlan.Prepared p) throws IOException {
        return YamlConfig.json().writeValueAsBytes(metrics(run, p));
    }

    private static Map<String, Object> metrics(AdapterRun run, TrainPlan.Prepared p) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("adapter_id", run.adapter());
        m.put("trainable_params", run.state().values().length);
        m.put("total_params", p.modelBytes() / 4 + run.state().values().length);
        m.put("examples", run.examples());
        m.put("tokens", run.tokens());
        m.put("rounds", run.rounds());
        m.put("final_train_loss", run.finalLoss());
        Map<String, Object> eval = new LinkedHashMap<>();
        boolean lm = p.manifest().languageModel();
        Double loss = run.evaluation().examples() == 0 ? null : run.evaluation().lossSum() / run.evaluation().examples();
        eval.put("split", run.config().evalSplit());
        eval.put(lm ? "predicted_tokens" : "examples", run.evaluation().examples());
        eval.put("loss", loss);
        if (lm) eval.put("perplexity", loss == null ? null : Math.exp(loss));
        else eval.put("accuracy", loss == null ? null : run.accuracy());
        m.put("evaluation", eval);
        m.put("wall_seconds", run.seconds());
        m.put("tokens_per_second", run.tokens() / run.seconds());
        m.put("broadcast_bytes", run.broadcastBytes());
        m.put("result_bytes", run.resultBytes());
        return m;
    }

    /** "split: loss L, accuracy A on N rows" (or perplexity over N tokens for a causal LM). */
    static String describe(AdapterRun run, boolean causalLm) {
        var e = run.evaluation();
        if (e.examples() == 0) return "no " + run.config().evalSplit() + " rows to evaluate";
        double loss = e.lossSum() / e.examples();
        return run.config().evalSplit() + ": loss " + String.format("%.4f", loss) + ", " + (causalLm
                ? String.format("perplexity %.2f over %,d tokens", Math.exp(loss), e.examples())
                : String.format("accuracy %.4f on %,d rows", run.accuracy(), e.examples()));
    }
}
