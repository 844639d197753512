package io.lorafleet.spark;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.lorafleet.datasets.Manifest;
import io.lorafleet.datasets.ShardFormat;
import io.lorafleet.datasets.ShardRow;
import io.lorafleet.io.LocalModelFiles;
import io.lorafleet.io.PeftAdapter;
import io.lorafleet.io.PretrainedModel;
import io.lorafleet.model.SequenceClassifier;
import io.lorafleet.model.TokenBatch;
import io.lorafleet.nn.LoraConfig;
import io.lorafleet.nn.Param;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.io.LocalInputFile;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Adapters out of the train job: the PEFT folder, eval, merge, HDFS and S3, and every refusal. */
class AdapterExportTest {
    @TempDir
    static java.nio.file.Path tmp;
    static java.nio.file.Path adapter;
    static MiniHdfs hdfs;
    static S3Proxy s3;

    @BeforeAll
    static void train() throws Exception {
        TrainJob.train(SparkTestSession.get(), run(), false, false);
        adapter = tmp.resolve("adapters/imdb");
        hdfs = new MiniHdfs(tmp.resolve("hdfs"));
        s3 = new S3Proxy(tmp.resolve("s3"), "adapters");
    }

    @AfterAll
    static void stop() throws Exception {
        if (s3 != null) s3.close();
        if (hdfs != null) hdfs.close();
    }

    @Test
    void theTrainJobWritesACompletePeftFolderWithProvenanceAndMetrics() throws IOException {
        try (var files = Files.list(adapter)) {
            assertEquals(List.of("_COMPLETE", "adapter_config.json", "adapter_model.safetensors", "labels.json", "lorafleet.json", "metrics.json", "report.html"),
                    files.map(p -> p.getFileName().toString()).filter(n -> !n.startsWith(".")).sorted().toList());
        }
        ObjectMapper json = new ObjectMapper();
        JsonNode info = json.readTree(adapter.resolve("lorafleet.json").toFile());
        assertEquals(PretrainedModel.contentHash(new LocalModelFiles(MiniLm.folder())), info.get("base_model_sha256").asText());
        assertEquals("[\"negative\",\"positive\"]", info.get("labels").toString());
        JsonNode metrics = json.readTree(adapter.resolve("metrics.json").toFile());
        assertEquals(6 * 2 * (4 * 384 + 384 * 4) + 2 * 384 + 2, metrics.get("trainable_params").asInt());
        assertEquals(100, metrics.get("evaluation").get("examples").asInt());
        PretrainedModel base = PretrainedModel.load(new LocalModelFiles(MiniLm.folder()));
        PeftAdapter read = PeftAdapter.read(new LocalModelFiles(adapter), base.config());
        assertEquals(LoraConfig.of(4, 8, List.of("query", "value")), read.lora());
        assertEquals(List.of("classifier"), read.modulesToSave());
    }

    static List<ShardRow> testRows() throws IOException {
        List<ShardRow> rows = new ArrayList<>();
        for (Manifest.ShardFile f : ImdbShards.manifest().shards()) {
            if (f.split().equals("test")) ShardFormat.read(new LocalInputFile(ImdbShards.folder().resolve(f.path())), rows::add);
        }
        return rows;
    }

    @Test
    void evalScoresTheMergedAdapterAndMergedEqualsUnmergedOnRealReviews() throws IOException {
        Map<String, Object> m = EvalAdapter.run(new String[] {"--model", MiniLm.folder().toString(), "--adapter", adapter.toString(), "--data",
                ImdbShards.folder().toString(), "--split", "test"}, new Configuration());
        assertEquals(300L, ((Number) m.get("examples")).longValue());
        double accuracy = (Double) m.get("accuracy");
        assertTrue(accuracy > 0 && accuracy <= 1);
        assertTrue(new ObjectMapper().readTree(adapter.resolve("metrics.json").toFile()).path("eval").path("test").has("macro_f1"));

        // accuracy and macro-F1 recomputed here from the merged model's logits, row by row
        SequenceClassifier scorer = LoadedAdapter.load(MiniLm.folder().toString(), adapter.toString(), new Configuration()).classifier();
        scorer.merge();
        List<ShardRow> rows = ExecutorCache.rows(ImdbShards.folder().toString(), ImdbShards.manifest(), "imdb", "test", new Configuration());
        int[][] counts = new int[2][2]; // [true][predicted]
        for (int from = 0; from < rows.size(); from += 32) { // eval's batches: the same logits to the bit
            List<ShardRow> part = rows.subList(from, Math.min(rows.size(), from + 32));
            INDArray logits = scorer.logits(Batches.pad(part, false));
            for (int i = 0; i < part.size(); i++) counts[part.get(i).label()][logits.getDouble(i, 1) > logits.getDouble(i, 0) ? 1 : 0]++;
        }
        double f1Sum = 0;
        for (int k = 0; k < 2; k++) {
            double precision = counts[k][k] / (double) (counts[0][k] + counts[1][k]), recall = counts[k][k] / (double) (counts[k][0] + counts[k][1]);
            f1Sum += 2 * precision * recall / (precision + recall);
        }
        assertEquals((counts[0][0] + counts[1][1]) / 300.0, accuracy, 1e-12, "accuracy");
        assertEquals(f1Sum / 2, (Double) m.get("macro_f1"), 1e-12, "macro-F1");

        // a result that cannot be recorded is still shown, in the failure
        java.nio.file.Path unrecordable = edited("unrecordable", Files.readString(adapter.resolve(PeftAdapter.CONFIG)),
                Files.readString(adapter.resolve(PeftAdapter.INFO)), Map.of());
        Files.delete(unrecordable.resolve(PeftAdapter.METRICS));
        Files.createDirectories(unrecordable.resolve(PeftAdapter.METRICS));
        IOException e = assertThrows(IOException.class, () -> EvalAdapter.run(new String[] {"--model", MiniLm.folder().toString(), "--adapter",
                unrecordable.toString(), "--data", ImdbShards.folder().toString(), "--split", "test"}, new Configuration()));
        assertTrue(e.getMessage().startsWith("computed {\"examples\":300,") && e.getMessage().contains("but could not record it in"), e.getMessage());

        LoadedAdapter loaded = LoadedAdapter.load(MiniLm.folder().toString(), adapter.toString(), new Configuration());
        SequenceClassifier model = loaded.classifier();
        TokenBatch batch = Batches.pad(testRows().subList(0, 24), false);
        INDArray unmerged = model.logits(batch).dup();
        model.merge();
        INDArray merged = model.logits(batch).dup();
        double worst = Transforms.abs(merged.sub(unmerged)).maxNumber().doubleValue();
        assertTrue(worst < 1e-5, "merged vs unmerged logits on 24 real reviews: max |Δ| = " + worst);

        // the merge command's folder is a plain model: no LoRA, same logits with the adapter's head
        java.nio.file.Path out = tmp.resolve("merged");
        MergeAdapter.run(new String[] {"--model", MiniLm.folder().toString(), "--adapter", adapter.toString(), "--out", out.toString()}, new Configuration());
        PretrainedModel plain = PretrainedModel.load(new LocalModelFiles(out));
        SequenceClassifier reloaded = SequenceClassifier.create(plain.config(), plain.weights(), LoraConfig.of(1, 1, List.of("key")), 2,
                SequenceClassifier.Pooling.MEAN, 0); // LoRA with B = 0 on key: the plain model's output
        for (Param p : reloaded.params().params()) {
            INDArray head = loaded.adapter().headTensors().get(p.name());
            if (head != null) p.value().assign(head);
        }
        double fromFolder = Transforms.abs(reloaded.logits(batch).sub(unmerged)).maxNumber().doubleValue();
        assertTrue(fromFolder < 1e-5, "merged folder vs adapter logits: max |Δ| = " + fromFolder);
        IOException again = assertThrows(IOException.class, () -> MergeAdapter.run(new String[] {"--model", MiniLm.folder().toString(),
                "--adapter", adapter.toString(), "--out", out.toString()}, new Configuration()));
        assertTrue(again.getMessage().contains("--overwrite"), again.getMessage());
    }

    /** An edited copy of the trained adapter: the config and lorafleet.json as given, tensors renamed or dropped. */
    java.nio.file.Path edited(String name, String config, String info, Map<String, String> renamedTensors) throws IOException {
        Map<String, byte[]> files = adapterFiles();
        files.put(PeftAdapter.CONFIG, config.getBytes(StandardCharsets.UTF_8));
        files.put(PeftAdapter.INFO, info.getBytes(StandardCharsets.UTF_8));
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        try (var reader = io.lorafleet.io.SafetensorsReader.open(java.nio.channels.FileChannel.open(adapter.resolve(PeftAdapter.WEIGHTS)), "adapter")) {
            for (String t : reader.tensors().keySet()) {
                String to = renamedTensors.getOrDefault(t, t);
                if (!to.isEmpty()) tensors.put(to, reader.read(t));
            }
        }
        files.put(PeftAdapter.WEIGHTS, io.lorafleet.io.SafetensorsWriter.toBytes(tensors, Map.of("format", "pt")));
        AdapterFolder.write(tmp.resolve(name).toString(), files, new Configuration(), false);
        return tmp.resolve(name);
    }

    @Test
    void mergeRefusesAnAdapterWhoseConfigDoesNotDescribeItsTensors() throws IOException {
        String config = Files.readString(adapter.resolve(PeftAdapter.CONFIG)), info = Files.readString(adapter.resolve(PeftAdapter.INFO));
        assertTrue(config.contains("\"r\" : 4,") && config.contains("\"lora_alpha\" : 8.0") && info.contains("\"r\" : 4,"), config);
        String query = "base_model.model.bert.encoder.layer.0.attention.self.query.";
        Map<String, java.nio.file.Path> folders = new LinkedHashMap<>();
        // r=8 (or 2) written into the r=4 adapter's config: merging would fold in 0.5x (or 2x) the trained delta
        folders.put("r is 8, but lorafleet.json records that the adapter trained with 4",
                edited("r8", config.replace("\"r\" : 4,", "\"r\" : 8,"), info, Map.of()));
        folders.put("lora_alpha is 16.0, but lorafleet.json records that the adapter trained with 8.0",
                edited("alpha16", config.replace("\"lora_alpha\" : 8.0", "\"lora_alpha\" : 16.0"), info, Map.of()));
        // both files edited alike: the tensors' shapes still tell
        folders.put("but adapter_config.json (r, rank_pattern) gives [",
                edited("both-r2", config.replace("\"r\" : 4,", "\"r\" : 2,"), info.replace("\"r\" : 4,", "\"r\" : 2,"), Map.of()));
        folders.put("alpha_pattern is {value=32.0}, but lorafleet.json records that the adapter trained with {}",
                edited("alpha-pattern", config.replace("\"alpha_pattern\" : { }", "\"alpha_pattern\" : {\"value\" : 32.0}"), info, Map.of()));
        folders.put("init_lora_weights is GAUSSIAN, but lorafleet.json records that the adapter trained with KAIMING_UNIFORM",
                edited("init", config.replace("\"init_lora_weights\" : true", "\"init_lora_weights\" : \"gaussian\""), info, Map.of()));
        folders.put("has no tensor for encoder.layer.0.attention.self.query.lora_B.weight",
                edited("no-b", config, info, Map.of(query + "lora_B.weight", "")));
        folders.put("has no tensor for encoder.layer.0.attention.self.query.lora_A.weight", // the module name is one the model lacks
                edited("renamed", config, info, Map.of(query + "lora_A.weight", "base_model.model.bert.encoder.layer.0.attention.self.qeury.lora_A.weight")));
        folders.put("does not describe for this model: encoder.layer.0.attention.self.value.lora_A.weight",
                edited("fewer-targets", config.replace("\"query\", \"value\"", "\"query\""), info.replace("\"query\", \"value\"", "\"query\""), Map.of()));
        for (Map.Entry<String, java.nio.file.Path> e : folders.entrySet()) {
            java.nio.file.Path out = tmp.resolve("merged-" + e.getValue().getFileName());
            IOException x = assertThrows(IOException.class, () -> MergeAdapter.run(new String[] {"--model", MiniLm.folder().toString(), "--adapter",
                    e.getValue().toString(), "--out", out.toString()}, new Configuration()), e.getKey());
            assertTrue(x.getMessage().contains(e.getKey()), "expected \"" + e.getKey() + "\" in: " + x.getMessage());
            assertFalse(Files.exists(out), "nothing written for " + e.getValue());
            IOException evaluated = assertThrows(IOException.class, () -> EvalAdapter.run(new String[] {"--model", MiniLm.folder().toString(),
                    "--adapter", e.getValue().toString(), "--data", ImdbShards.folder().toString()}, new Configuration()), "eval too: " + e.getKey());
            assertTrue(evaluated.getMessage().contains(e.getKey()), evaluated.getMessage());
        }
    }

    Map<String, byte[]> adapterFiles() throws IOException {
        Map<String, byte[]> files = new LinkedHashMap<>();
        for (String f : List.of(PeftAdapter.WEIGHTS, PeftAdapter.CONFIG, PeftAdapter.INFO, PeftAdapter.METRICS)) files.put(f, Files.readAllBytes(adapter.resolve(f)));
        return files;
    }

    void exportAndReadBack(String uri, Configuration conf) throws IOException {
        AdapterFolder.write(uri, adapterFiles(), conf, false);
        LoadedAdapter remote = LoadedAdapter.load(MiniLm.folder().toUri().toString(), uri, conf); // file: — the conf's default FS is HDFS
        PeftAdapter local = PeftAdapter.read(new LocalModelFiles(adapter), remote.base().config());
        local.tensors().forEach((k, v) -> assertTrue(v.equals(remote.adapter().tensors().get(k)), k));
        IOException e = assertThrows(IOException.class, () -> AdapterFolder.write(uri, adapterFiles(), conf, false));
        assertTrue(e.getMessage().contains("already exists"), e.getMessage());
    }

    static final String RUN = """
            model: %s
            shards: %s
            output: %s
            lora: {r: 4, alpha: 8, target_modules: [query, value]}
            batch_size: 16
            partitions: 2
            local_steps: 2
            rounds: 4
            optimizer: {kind: adamw, learning_rate: 0.003}
            """;

    static TrainConfig run(String... overrides) throws IOException {
        String yaml = RUN.formatted(MiniLm.folder(), ImdbShards.folder(), tmp.resolve("adapters"));
        return TrainConfig.load(yaml.getBytes(StandardCharsets.UTF_8), "run.yaml", List.of(overrides));
    }

    @Test
    void theExportCommandRewritesTheAdapterFromItsFinalCheckpointToS3() throws IOException {
        var conf = SparkTestSession.get().sparkContext().hadoopConfiguration();
        s3.conf().forEach(e -> conf.set(e.getKey(), e.getValue()));
        TrainJob.export(SparkTestSession.get(), run(), "s3a://adapters/exported", false);
        java.nio.file.Path exported = s3.bucketFolder("adapters").resolve("exported/imdb");
        assertEquals(new String(Files.readAllBytes(adapter.resolve(PeftAdapter.CONFIG))), new String(Files.readAllBytes(exported.resolve(PeftAdapter.CONFIG))));
        assertTrue(java.util.Arrays.equals(Files.readAllBytes(adapter.resolve(PeftAdapter.WEIGHTS)), Files.readAllBytes(exported.resolve(PeftAdapter.WEIGHTS))),
                "the same bytes as the train job's export");
        assertTrue(Files.exists(exported.resolve(PeftAdapter.COMPLETE)));
        byte[] secret = S3Proxy.SECRET_KEY.getBytes(StandardCharsets.UTF_8);
        try (var written = Files.walk(s3.bucketFolder("adapters"))) {
            for (java.nio.file.Path f : written.filter(Files::isRegularFile).toList()) {
                assertFalse(new String(Files.readAllBytes(f), StandardCharsets.ISO_8859_1).contains(new String(secret, StandardCharsets.ISO_8859_1)),
                        f + " holds the S3 secret key");
            }
        }
    }

    @Test
    void theCheckpointDefinesTheAdapterAConfigThatDisagreesIsRefused() throws IOException {
        Map<List<String>, String> refused = new LinkedHashMap<>();
        refused.put(List.of("lora.alpha=64"), "lora.alpha is 64.0 here, 8.0 in the checkpoint");
        refused.put(List.of("lora.r=8", "lora.target_modules=[query, key, value, attention.output.dense]"), "lora.r is 8 here, 4 in the checkpoint");
        refused.put(List.of("seed=999"), "seed is 999 here, 42 in the checkpoint");
        for (Map.Entry<List<String>, String> e : refused.entrySet()) {
            TrainConfig changed = run(e.getKey().toArray(String[]::new));
            IllegalArgumentException x = assertThrows(IllegalArgumentException.class,
                    () -> TrainJob.export(SparkTestSession.get(), changed, tmp.resolve("exported-" + e.getKey().hashCode()).toString(), false));
            assertTrue(x.getMessage().contains(e.getValue()) && x.getMessage().contains("which defines the adapter"), e.getKey() + ": " + x.getMessage());
            assertFalse(Files.exists(tmp.resolve("exported-" + e.getKey().hashCode())), "nothing written");
        }
        IllegalArgumentException targets = assertThrows(IllegalArgumentException.class, () -> TrainJob.export(SparkTestSession.get(),
                run("lora.target_modules=[query, key, value, attention.output.dense]"), tmp.resolve("exported-targets").toString(), false));
        assertTrue(targets.getMessage().contains("lora.target_modules is [\"query\",\"key\",\"value\",\"attention.output.dense\"] here"), targets.getMessage());

        // a new output moves the default checkpoints folder: the message says how to write elsewhere instead
        IOException moved = assertThrows(IOException.class, () -> TrainJob.export(SparkTestSession.get(), run("output=" + tmp.resolve("elsewhere")), null, false));
        assertTrue(moved.getMessage().contains("no final checkpoint of imdb") && moved.getMessage().contains("--to URI"), moved.getMessage());
    }

    @Test
    void exportsToHdfsAndS3AndReadsBack() throws IOException {
        exportAndReadBack(hdfs.uri() + "/adapters/imdb", hdfs.conf());
        exportAndReadBack("s3a://adapters/runs/imdb", s3.conf());
        assertTrue(Files.exists(s3.bucketFolder("adapters").resolve("runs/imdb/_COMPLETE")));
    }

    @Test
    void refusalsNameWhatIsWrong() throws IOException {
        // a writer that died half-way: files without the marker (the temp folder is hidden; a bare copy is refused)
        java.nio.file.Path half = tmp.resolve("half");
        Files.createDirectories(half);
        for (var f : adapterFiles().entrySet()) Files.write(half.resolve(f.getKey()), f.getValue());
        IOException e = assertThrows(IOException.class, () -> LoadedAdapter.load(MiniLm.folder().toString(), half.toString(), new Configuration()));
        assertTrue(e.getMessage().contains("_COMPLETE") && e.getMessage().contains("incomplete"), e.getMessage());

        // another base model (same shapes, different bytes)
        java.nio.file.Path other = tmp.resolve("other-base");
        Files.createDirectories(other);
        for (String f : List.of("model.safetensors", "tokenizer.json")) Files.copy(MiniLm.folder().resolve(f), other.resolve(f));
        Files.writeString(other.resolve("config.json"), Files.readString(MiniLm.folder().resolve("config.json")) + " ");
        e = assertThrows(IOException.class, () -> LoadedAdapter.load(other.toString(), adapter.toString(), new Configuration()));
        assertTrue(e.getMessage().contains("refusing to apply it to another model"), e.getMessage());

        // an existing adapter is not replaced, and adapter ids cannot leave the output folder
        String yaml = """
                model: %s
                shards: %s
                output: %s
                lora: {target_modules: [query]}
                rounds: 1
                """.formatted(MiniLm.folder(), ImdbShards.folder(), tmp.resolve("adapters"));
        TrainConfig again = TrainConfig.load(yaml.getBytes(StandardCharsets.UTF_8), "again.yaml", List.of());
        e = assertThrows(IOException.class, () -> TrainJob.train(SparkTestSession.get(), again, false, false));
        assertTrue(e.getMessage().contains("an adapter exists (pass --overwrite"), e.getMessage());
        assertEquals(AdapterRun.Status.EXISTING, TrainJob.train(SparkTestSession.get(), again, false, true).get(0).status(),
                "--resume keeps an exported adapter");
        TrainConfig escape = TrainConfig.load(yaml.getBytes(StandardCharsets.UTF_8), "escape.yaml", List.of("adapters=[../imdb]"));
        Configuration hadoop = SparkTestSession.get().sparkContext().hadoopConfiguration();
        TrainPlan.Planned escaped = TrainPlan.plan(escape, TrainPlan.prepare(escape, hadoop), hadoop).get(0);
        assertTrue(escaped.failure().startsWith("adapters: '../imdb' is not a safe folder name"), escaped.failure());
        FileSystem fs = FileSystem.getLocal(new Configuration());
        assertFalse(fs.exists(new Path(tmp.resolve("imdb").toString())));
    }
}
