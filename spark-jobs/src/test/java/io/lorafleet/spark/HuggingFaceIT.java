package io.lorafleet.spark;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.lorafleet.datasets.DatasetSpec;
import io.lorafleet.datasets.Manifest;
import io.lorafleet.datasets.YamlConfig;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What we export is loaded by the real consumers — PEFT 0.21 and transformers 5.17 on PyTorch 2.13, from the local wheel
 * mirror (deploy/hf/venv.sh) — the way the README tells a Hugging Face user to, and gives our logits row for row:
 * AutoPeftModelForSequenceClassification for the Hugging Face head (BERT's pooler, GPT-2's last-token score), the README's
 * few lines for a mean-pooled adapter (with PEFT's regex rank/alpha patterns), and AutoModelForSequenceClassification
 * for the merged folders.
 */
class HuggingFaceIT {
    @TempDir
    static Path tmp;
    static String python;

    @BeforeAll
    static void pythonWithPeft() throws Exception {
        Process venv = new ProcessBuilder("bash", Path.of("../deploy/hf/venv.sh").toAbsolutePath().toString())
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String out = new String(venv.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertTrue(venv.waitFor(20, TimeUnit.MINUTES) && venv.exitValue() == 0, "deploy/hf/venv.sh failed: " + out);
        python = out.lines().reduce((a, b) -> b).orElseThrow();
    }

    static TrainConfig config(String name, Path model, Path shards, String extra) throws IOException {
        String yaml = """
                model: %s
                shards: %s
                output: %s
                batch_size: 8
                local_steps: 2
                rounds: 3
                seed: 5
                optimizer: {learning_rate: 0.01}
                """.formatted(model, shards, tmp.resolve(name)) + extra;
        return TrainConfig.load(yaml.getBytes(StandardCharsets.UTF_8), name + ".yaml", List.of());
    }

    /** Trains, evaluates with --predictions, optionally merges, and runs deploy/hf/check_peft.py over the result. */
    static JsonNode roundTrip(String name, String extra, boolean merge) throws Exception {
        return roundTrip(name, MiniLm.folder(), ImdbShards.folder(), extra, merge);
    }

    static JsonNode roundTrip(String name, Path model, Path shards, String extra, boolean merge) throws Exception {
        AdapterRun run = TrainJob.train(SparkTestSession.get(), config(name, model, shards, extra), false, false).get(0);
        assertEquals(AdapterRun.Status.DONE, run.status(), run.failure());
        Path adapter = tmp.resolve(name).resolve("imdb"), predictions = tmp.resolve(name + "-test.jsonl");
        Configuration conf = SparkJobs.hadoopConf();
        EvalAdapter.run(new String[] {"--model", model.toString(), "--adapter", adapter.toString(), "--data", shards.toString(),
                "--predictions", predictions.toString()}, conf);
        List<String> args = new ArrayList<>(List.of("--adapter", adapter.toString(), "--predictions", predictions.toString()));
        if (merge) {
            Path merged = tmp.resolve(name + "-merged");
            MergeAdapter.run(new String[] {"--model", model.toString(), "--adapter", adapter.toString(), "--out", merged.toString()}, conf);
            args.addAll(List.of("--merged", merged.toString()));
        }
        JsonNode report = checkPeft(name, args);
        assertEquals(Files.readAllLines(predictions).size(), report.get("rows").asInt());
        assertTrue(report.get("rows").asInt() >= 50, "the IMDB sample's test split: " + report);
        return report;
    }

    /** deploy/hf/check_peft.py with these arguments (tolerance 1e-5): its one-line report, after asserting it found no problem. */
    static JsonNode checkPeft(String name, List<String> args) throws Exception {
        List<String> command = new ArrayList<>(List.of(python, Path.of("../deploy/hf/check_peft.py").toAbsolutePath().toString(), "--tolerance", "1e-5"));
        command.addAll(args);
        Path log = tmp.resolve(name + "-python.log");
        Process check = new ProcessBuilder(command).redirectError(log.toFile()).directory(tmp.toFile()).start();
        String out = new String(check.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        check.waitFor(10, TimeUnit.MINUTES);
        String errors = Files.readString(log);
        assertEquals(0, check.exitValue(), out + "\n" + errors.lines().skip(Math.max(0, errors.lines().count() - 20)).reduce("", (a, b) -> a + b + "\n"));
        return YamlConfig.json().readTree(out.lines().reduce((a, b) -> b).orElseThrow());
    }

    @Test
    void theHuggingFaceHeadLoadsWithAutoPeftAndMergesIntoAFolderAutoModelLoads() throws Exception {
        JsonNode report = roundTrip("hf-head", "lora: {r: 8, alpha: 16, target_modules: [query, value]}\nhead: {pooling: hf}\n", true);
        System.out.println("HF head: " + report);
        assertEquals(0, report.get("peft").get("disagreeing_predictions").asInt(), report.toString());
        assertEquals(0, report.get("merged").get("disagreeing_predictions").asInt(), report.toString());
        JsonNode config = YamlConfig.json().readTree(tmp.resolve("hf-head-merged/config.json").toFile());
        assertEquals("BertForSequenceClassification", config.get("architectures").get(0).asText());
        assertEquals("positive", config.get("id2label").get("1").asText());
    }

    @Test
    void aGpt2ClassifierScoresItsLastTokenAsGpt2ForSequenceClassificationDoes() throws Exception {
        // the GPT-2-layout fixture (random weights, its own byte-level BPE, 24 positions) over the real reviews
        Path shards = tmp.resolve("gpt2-shards");
        TokenizeJob.tokenize(SparkTestSession.get(), io.lorafleet.datasets.DatasetSpec.load(ImdbSpec.yaml(CausalLmPipelineTest.GPT2, 24, shards,
                TokenizeJobTest.SAMPLE, "imdb").getBytes(StandardCharsets.UTF_8), "gpt2.yaml", List.of()), false);
        JsonNode report = roundTrip("gpt2", CausalLmPipelineTest.GPT2, shards, "lora: {r: 4, alpha: 8, target_modules: [c_attn]}\nhead: {pooling: hf}\n", true);
        System.out.println("GPT-2 HF head: " + report);
        JsonNode config = YamlConfig.json().readTree(tmp.resolve("gpt2-merged/config.json").toFile());
        assertEquals("GPT2ForSequenceClassification", config.get("architectures").get(0).asText());
        assertTrue(Files.readString(tmp.resolve("gpt2/imdb/adapter_config.json")).contains("\"score\""), "the head is GPT-2's score");
    }

    @Test
    void aClsPooledAdapterGivesOurLogitsAndPeftMergesItAsWeDo() throws Exception {
        JsonNode report = roundTrip("cls", "lora: {r: 4, alpha: 8, target_modules: [query, key, value]}\nhead: {pooling: cls}\n", true);
        System.out.println("CLS pooling: " + report);
        assertEquals(0, report.get("peft").get("disagreeing_predictions").asInt(), report.toString());
        assertTrue(report.get("merge_and_unload").get("tensors").asInt() > 100, report.toString());
    }

    @Test
    void aGpt2LanguageModelAdapterGivesOurTokenProbabilitiesInPeftAndMerged() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("lm-data"));
        CausalLmPipelineTest.tokenizeReviews(dir, 200, "imdb");
        Path shards = dir.resolve("shards");
        JsonNode report = roundTrip("lm", CausalLmPipelineTest.GPT2, shards, "lora: {r: 4, alpha: 8, target_modules: [c_attn, c_fc]}\n", true);
        System.out.println("GPT-2 LM: " + report);
        assertEquals("CAUSAL_LM", report.get("task").asText());
        assertTrue(report.has("merged"), report.toString());
    }

    /**
     * DoRA and adapters that started from W, trained in the Spark job: PEFT loads DoRA's magnitudes by its own names and
     * merges them as we do; PiSSA and OLoRA are written as PEFT's converted export (twice the rank, on the original base).
     * GPT-2's Conv1D stores W transposed: DoRA's norms are over its output rows there too.
     */
    @Test
    void doraPissaAndOloraAdaptersGiveOurLogitsInPeftAndMergeAsPeftDoes() throws Exception {
        JsonNode dora = roundTrip("dora", "lora: {r: 8, alpha: 16, dropout: 0.1, target_modules: [query, value], use_dora: true}\nhead: {pooling: hf}\n", true);
        System.out.println("DoRA: " + dora);
        assertEquals(0, dora.get("peft").get("disagreeing_predictions").asInt(), dora.toString());
        JsonNode config = YamlConfig.json().readTree(tmp.resolve("dora/imdb/adapter_config.json").toFile());
        assertTrue(config.get("use_dora").asBoolean(), config.toString());

        JsonNode pissa = roundTrip("pissa", "lora: {r: 4, alpha: 8, target_modules: [query, value, attention.output.dense], init: pissa}\nhead: {pooling: hf}\n", true);
        System.out.println("PiSSA: " + pissa);
        config = YamlConfig.json().readTree(tmp.resolve("pissa/imdb/adapter_config.json").toFile());
        assertEquals(8, config.get("r").asInt(), "the converted export has twice the rank");
        assertEquals(16.0, config.get("lora_alpha").asDouble(), "and twice alpha");
        assertTrue(config.get("init_lora_weights").asBoolean(), "plain LoRA on the original base");

        Path dir = Files.createDirectories(tmp.resolve("olora-data"));
        CausalLmPipelineTest.tokenizeReviews(dir, 200, "imdb");
        JsonNode olora = roundTrip("olora-dora", CausalLmPipelineTest.GPT2, dir.resolve("shards"),
                "lora: {r: 4, alpha: 8, target_modules: [c_attn, c_fc], init: olora, use_dora: true}\n", true);
        System.out.println("OLoRA + DoRA, GPT-2 LM: " + olora);
        assertTrue(olora.get("merge_and_unload").get("tensors").asInt() > 10, olora.toString());
    }

    /**
     * One step of ours against one step of PEFT's model on PyTorch, from the same adapter state on the same real batch:
     * DoRA's gradients (its norm held constant) and LoRA+'s learning-rate groups as PEFT's create_loraplus_optimizer
     * makes them, with SGD (momentum 0.9, first step: the update is the learning rate times the gradient) so that every
     * gradient is compared, not only its sign as Adam's first step would.
     */
    @Test
    void aDoraStepWithLoraPlusUpdatesEveryTensorAsPeftAndTorchDo() throws Exception {
        io.lorafleet.io.PretrainedModel base = io.lorafleet.io.PretrainedModel.load(new io.lorafleet.io.LocalModelFiles(MiniLm.folder()));
        io.lorafleet.nn.LoraConfig lora = new io.lorafleet.nn.LoraConfig(4, 8, 0, List.of("query", "value"), false,
                io.lorafleet.nn.LoraConfig.Init.KAIMING_UNIFORM, Map.of(), Map.of(), true);
        io.lorafleet.model.SequenceClassifier model = io.lorafleet.model.SequenceClassifier.create(base.config(), base.weights(), lora, 2,
                io.lorafleet.model.SequenceClassifier.Pooling.HF, 3);
        org.nd4j.linalg.factory.Nd4j.getRandom().setSeed(7);
        for (io.lorafleet.nn.Param p : model.params().params()) { // B = 0 would leave A without a gradient: a trained B and magnitude
            if (p.name().endsWith(io.lorafleet.nn.LoraDelta.B_SUFFIX)) p.value().assign(org.nd4j.linalg.factory.Nd4j.randn(p.value().dataType(), p.shape()).muli(0.02));
            if (p.name().endsWith(io.lorafleet.nn.DoraDelta.MAGNITUDE_SUFFIX)) p.value().muli(1.05);
        }
        List<io.lorafleet.datasets.ShardRow> rows = new ArrayList<>();
        for (Manifest.ShardFile f : ImdbShards.manifest().shards()) {
            if (f.split().equals("train")) io.lorafleet.datasets.ShardFormat.read(new org.apache.parquet.io.LocalInputFile(ImdbShards.folder().resolve(f.path())), rows::add);
        }
        rows.sort(java.util.Comparator.comparingLong(io.lorafleet.datasets.ShardRow::rowId));
        io.lorafleet.model.TokenBatch batch = Batches.pad(rows.subList(0, 8), false);
        double lr = 0.05, ratio = 4;
        Path before = adapterFolder("step-before", model, lora), after;
        try (io.lorafleet.train.Trainer trainer = new io.lorafleet.train.Trainer(model, new io.lorafleet.optim.OptimizerConfig(
                io.lorafleet.optim.OptimizerConfig.Kind.SGD, lr, 0.9, 0.999, 1e-8, 0, 0, 0, 100, io.lorafleet.optim.OptimizerConfig.Decay.CONSTANT, ratio))) {
            System.out.printf("our step's loss %.6f%n", trainer.step(batch).loss());
            after = adapterFolder("step-after", model, lora);
        }
        List<List<Integer>> ids = new ArrayList<>(), mask = new ArrayList<>();
        for (int b = 0; b < batch.batchSize(); b++) {
            List<Integer> rowIds = new ArrayList<>(), rowMask = new ArrayList<>();
            for (int t = 0; t < batch.seqLen(); t++) {
                rowIds.add(batch.inputIds()[b * batch.seqLen() + t]);
                rowMask.add(batch.attentionMask()[b * batch.seqLen() + t]);
            }
            ids.add(rowIds);
            mask.add(rowMask);
        }
        Path batchJson = tmp.resolve("step-batch.json");
        new ObjectMapper().writeValue(batchJson.toFile(), Map.of("input_ids", ids, "attention_mask", mask,
                "labels", java.util.Arrays.stream(batch.labels()).boxed().toList()));
        Path log = tmp.resolve("step-python.log");
        Process step = new ProcessBuilder(python, Path.of("src/test/python/peft_step.py").toAbsolutePath().toString(), "--base", MiniLm.folder().toString(),
                "--before", before.toString(), "--after", after.toString(), "--batch", batchJson.toString(), "--lr", Double.toString(lr),
                "--ratio", Double.toString(ratio)).redirectError(log.toFile()).start();
        String out = new String(step.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertTrue(step.waitFor(10, TimeUnit.MINUTES) && step.exitValue() == 0, out + "\n" + Files.readString(log));
        JsonNode report = YamlConfig.json().readTree(out.lines().reduce((a, b) -> b).orElseThrow());
        System.out.println("one SGD step, DoRA + LoRA+ (ratio " + ratio + "), ours vs PEFT on torch: " + report);
        assertEquals(0, report.get("problems").size(), report.toString());
        for (String kind : List.of("lora_A", "lora_B", "lora_magnitude_vector", "head")) {
            JsonNode k = report.get(kind);
            assertTrue(k != null && k.get("largest_update").asDouble() > 0, kind + " moved: " + report);
            assertTrue(k.get("max_abs_difference").asDouble() <= 2e-3 * k.get("largest_update").asDouble(), kind + ": " + k);
        }
    }

    /** Our PiSSA and OLoRA starts are PEFT's: the same A and B (up to the sign of each singular pair) for MiniLM's real weights. */
    @Test
    void pissaAndOloraStartWhereTheirPeftInitializationsDo() throws Exception {
        Path peft = tmp.resolve("peft-init.safetensors"), log = tmp.resolve("peft-init.log");
        Process p = new ProcessBuilder(python, Path.of("src/test/python/peft_init.py").toAbsolutePath().toString(), MiniLm.folder().toString(), peft.toString())
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        assertTrue(p.waitFor(10, TimeUnit.MINUTES) && p.exitValue() == 0, Files.readString(log));
        io.lorafleet.io.PretrainedModel base = io.lorafleet.io.PretrainedModel.load(new io.lorafleet.io.LocalModelFiles(MiniLm.folder()));
        try (io.lorafleet.io.SafetensorsReader theirs = io.lorafleet.io.SafetensorsReader.open(java.nio.channels.FileChannel.open(peft), peft.toString())) {
            for (String module : List.of("query", "value")) {
                org.nd4j.linalg.api.ndarray.INDArray w = base.weights().asMap().get("encoder.layer.0.attention.self." + module + ".weight");
                for (String init : List.of("pissa", "olora")) {
                    io.lorafleet.nn.WeightDecomposition.Part ours = init.equals("pissa") ? io.lorafleet.nn.WeightDecomposition.pissa(w, 4, 2.0)
                            : io.lorafleet.nn.WeightDecomposition.olora(w, 4);
                    org.nd4j.linalg.api.ndarray.INDArray a = theirs.read(init + "." + module + ".lora_A.weight"), b = theirs.read(init + "." + module + ".lora_B.weight");
                    double worst = 0;
                    for (int k = 0; k < 4; k++) { // a singular pair may come with both signs flipped: B·A is the same
                        double sign = Math.signum(a.getRow(k).mul(ours.a().getRow(k)).sumNumber().doubleValue());
                        worst = Math.max(worst, a.getRow(k).mul(sign).sub(ours.a().getRow(k)).amaxNumber().doubleValue() / a.getRow(k).amaxNumber().doubleValue());
                        worst = Math.max(worst, b.getColumn(k).mul(sign).sub(ours.b().getColumn(k)).amaxNumber().doubleValue() / b.getColumn(k).amaxNumber().doubleValue());
                    }
                    System.out.printf("%s %s: ours vs PEFT's start, max relative difference %.1e%n", init, module, worst);
                    assertTrue(worst < 1e-3, init + " " + module + ": " + worst);
                }
            }
        }
    }

    private static Path adapterFolder(String name, io.lorafleet.model.TaskModel model, io.lorafleet.nn.LoraConfig lora) throws IOException {
        io.lorafleet.io.PeftAdapter adapter = io.lorafleet.io.PeftAdapter.of(model, io.lorafleet.io.PeftAdapter.TaskType.SEQ_CLS, lora, MiniLm.folder().toString());
        Path dir = Files.createDirectories(tmp.resolve(name));
        Files.write(dir.resolve(io.lorafleet.io.PeftAdapter.WEIGHTS), adapter.weights(model.config()));
        Files.write(dir.resolve(io.lorafleet.io.PeftAdapter.CONFIG), adapter.configJson(model.config()));
        return dir;
    }

    /**
     * Tiny random Llama (bf16, sharded, own lm_head, GQA, llama3 rope), Mistral (sliding window) and Qwen2 (tied, one sliding-window layer) made by
     * transformers (lora-dl4j's make_tiny_decoders.py), with the GPT-2 fixture's tokenizer (their vocabulary is its 280 ids).
     */
    static Path tinyDecoders() throws Exception {
        Path out = tmp.resolve("decoders");
        if (Files.exists(out.resolve("qwen2/config.json"))) return out;
        Process make = new ProcessBuilder(python, Path.of("../lora-dl4j/src/test/python/make_tiny_decoders.py").toAbsolutePath().toString(), out.toString())
                .redirectErrorStream(true).redirectOutput(tmp.resolve("decoders.log").toFile()).start();
        assertTrue(make.waitFor(10, TimeUnit.MINUTES) && make.exitValue() == 0, Files.readString(tmp.resolve("decoders.log")));
        for (String model : List.of("llama", "mistral", "qwen2")) {
            Files.copy(CausalLmPipelineTest.GPT2.resolve("tokenizer.json"), out.resolve(model).resolve("tokenizer.json"));
        }
        return out;
    }

    @Test
    void llamaFamilyAdaptersOnAllLinearGiveOurTokenProbabilitiesInPeftAndMerged() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("decoder-data"));
        CausalLmPipelineTest.tokenizeReviews(dir, 200, "imdb");
        for (String model : List.of("llama", "mistral", "qwen2")) {
            JsonNode report = roundTrip(model, tinyDecoders().resolve(model), dir.resolve("shards"), "lora: {r: 4, alpha: 8, target_modules: all-linear}\n", true);
            System.out.println(model + " LM: " + report);
            assertEquals("CAUSAL_LM", report.get("task").asText());
            assertTrue(report.get("merge_and_unload").get("tensors").asInt() > 20, report.toString());
            assertTrue(Files.readString(tmp.resolve(model + "/imdb/adapter_config.json")).contains("\"target_modules\" : \"all-linear\""));

            // lorafleet generate, greedy, with the adapter as trained and merged: the same tokens as transformers' generate() with PEFT and merged
            Path folder = tinyDecoders().resolve(model), adapter = tmp.resolve(model + "/imdb");
            Path prompts = Files.writeString(tmp.resolve(model + "-prompts.txt"), "The movie was\nI did not like\nA\n");
            List<String> args = new ArrayList<>(List.of("--model", folder.toString(), "--adapter", adapter.toString(), "--prompts", prompts.toString(),
                    "--max-new-tokens", "12"));
            String unmerged = Generate.run(args.toArray(String[]::new), SparkJobs.hadoopConf());
            args.add("--merge");
            assertEquals(unmerged, Generate.run(args.toArray(String[]::new), SparkJobs.hadoopConf()), "merged in memory, the same tokens");
            assertEquals(3, unmerged.lines().count(), unmerged);
            int longest = 0;
            for (String l : unmerged.lines().toList()) longest = Math.max(longest, YamlConfig.json().readTree(l).get("ids").size());
            assertEquals(12, longest, "a prompt ran to --max-new-tokens: " + unmerged);
            Path generations = Files.writeString(tmp.resolve(model + "-generations.jsonl"), unmerged);
            JsonNode generated = checkPeft(model + "-generate", List.of("--adapter", adapter.toString(), "--predictions", tmp.resolve(model + "-test.jsonl").toString(),
                    "--merged", tmp.resolve(model + "-merged").toString(), "--generations", generations.toString()));
            System.out.println(model + " generate: " + generated);
            assertEquals(0, generated.get("peft_generate").get("different").asInt(), generated.toString());
            assertEquals(3, generated.get("merged_generate").get("prompts").asInt(), generated.toString());
        }
    }

    /** Trains {@code adapter} on a tiny decoder (LoRA r=8 on all-linear, AdamW 0.02) into tmp/name: its first and last validation loss. */
    static double[] learn(String name, Path model, Path shards, int rounds, String adapter) throws Exception {
        String yaml = """
                model: %s
                shards: %s
                output: %s
                lora: {r: 8, alpha: 16, target_modules: all-linear}
                batch_size: 8
                local_steps: 4
                rounds: %d
                eval_every: 1
                seed: 5
                optimizer: {kind: adamw, learning_rate: 0.02}
                """.formatted(model, shards, tmp.resolve(name), rounds);
        AdapterRun run = TrainJob.train(SparkTestSession.get(), TrainConfig.load(yaml.getBytes(StandardCharsets.UTF_8), name + ".yaml", List.of()), false, false)
                .get(0);
        assertEquals(AdapterRun.Status.DONE, run.status(), run.failure());
        List<String> history = Files.readAllLines(tmp.resolve(name + "/_checkpoints/" + adapter + "/metrics.jsonl"));
        return new double[] {YamlConfig.json().readTree(history.get(0)).get("eval_loss").asDouble(),
                YamlConfig.json().readTree(history.get(history.size() - 1)).get("eval_loss").asDouble()};
    }

    @Test
    void aTinyLlamaLearnsRealTextInTheTrainJob() throws Exception {
        // no real Llama-architecture weights can be fetched here: the random tiny Llama, trained on real reviews, must learn
        Path dir = Files.createDirectories(tmp.resolve("learn-data"));
        CausalLmPipelineTest.tokenizeReviews(dir, 300, "imdb");
        double[] loss = learn("learn", tinyDecoders().resolve("llama"), dir.resolve("shards"), 8, "imdb");
        double first = loss[0], last = loss[1];
        System.out.printf("tiny Llama on real reviews: validation loss %.3f → %.3f%n", first, last);
        assertTrue(last < first - 0.5, "training lowers the validation loss: " + first + " → " + last);
    }

    @Test
    void aMeanPooledAdapterWithRegexPatternsGivesOurLogitsThroughTheReadmesLines() throws Exception {
        // PEFT reads these keys as regexes, first match in file order: layer 0's query gets r=4, every other query r=8
        JsonNode report = roundTrip("mean", """
                lora:
                  r: 8
                  alpha: 16
                  target_modules: [query, value, attention.output.dense]
                  rank_pattern: {"layer\\\\.0\\\\.attention\\\\.self\\\\.query": 4, "query": 8}
                  alpha_pattern: {"value": 32}
                """, true);
        System.out.println("mean pooling: " + report);
        assertEquals(0, report.get("peft").get("disagreeing_predictions").asInt(), report.toString());
        String config = Files.readString(tmp.resolve("mean/imdb/adapter_config.json"));
        assertTrue(config.indexOf("layer\\\\.0") < config.indexOf("\"query\" : 8"), "the patterns in their order: " + config);
    }

    /**
     * Conversations of real reviews rendered with SmolLM2's published chat template (ChatML), found in the model folder's
     * tokenizer_config.json as a downloaded model has it: the same token ids as transformers' apply_chat_template, the
     * assistant's answers and their end of turn learned, the shards naming their template, and the tiny Llama learning.
     */
    @Test
    void aTinyLlamaLearnsConversationsRenderedWithItsChatTemplate() throws Exception {
        Path model = tmp.resolve("llama-chat"), dir = tmp.resolve("chat");
        Files.createDirectories(model);
        try (var files = Files.list(tinyDecoders().resolve("llama"))) {
            for (Path f : files.toList()) if (Files.isRegularFile(f)) Files.copy(f, model.resolve(f.getFileName()));
        }
        String template = Files.readString(Path.of("../datasets/src/test/resources/chat-templates/smollm2-135m-instruct.jinja"));
        ObjectMapper json = new ObjectMapper();
        Files.writeString(model.resolve("tokenizer_config.json"), json.writeValueAsString(Map.of("tokenizer_class", "PreTrainedTokenizerFast",
                "eos_token", "<|endoftext|>", "chat_template", template)));
        List<String> conversations = new ArrayList<>();
        for (String line : Files.readAllLines(TokenizeJobTest.SAMPLE)) {
            JsonNode review = json.readTree(line);
            String text = review.get("text").asText();
            conversations.add(json.writeValueAsString(Map.of("messages", List.of(
                    Map.of("role", "user", "content", "Review: " + text.substring(0, Math.min(120, text.length())) + "\nSentiment?"),
                    Map.of("role", "assistant", "content", review.get("label").asText())))));
        }
        Files.createDirectories(dir);
        Files.write(dir.resolve("chats.jsonl"), conversations);
        String dataset = """
                tokenizer: %s
                output: %s
                objective: instruction
                max_length: 320
                tasks:
                  - adapter_id: chat
                    inputs: [%s]
                    format: jsonl
                    messages: messages
                """.formatted(model, dir.resolve("shards"), dir.resolve("chats.jsonl"));
        Manifest m = TokenizeJob.tokenize(SparkTestSession.get(), DatasetSpec.load(dataset.getBytes(StandardCharsets.UTF_8), "chat.yaml", List.of()), false);
        assertEquals(io.lorafleet.datasets.Sha256.of(template.getBytes(StandardCharsets.UTF_8)), m.chatTemplateSha256(), "the shards name their template");
        assertEquals(0, m.rowsQuarantined(), m.droppedByReason().toString());
        List<io.lorafleet.datasets.ShardRow> rows = ExecutorCache.rows(dir.resolve("shards").toString(), m, "chat", "train", new Configuration());
        try (io.lorafleet.datasets.TextTokenizer t = io.lorafleet.datasets.TextTokenizer.fromJson(Files.readAllBytes(model.resolve("tokenizer.json")), 1024, "t")) {
            for (io.lorafleet.datasets.ShardRow row : rows.subList(0, 5)) {
                int[] span = java.util.Arrays.copyOfRange(row.inputIds(), row.lossSpans()[0], row.lossSpans()[1]);
                String answer = t.decode(span);
                assertTrue(answer.equals("positive<|im_end|>\n") || answer.equals("negative<|im_end|>\n"), "learned: '" + answer + "'");
                assertTrue(t.decode(java.util.Arrays.copyOf(row.inputIds(), row.lossSpans()[0])).endsWith("<|im_start|>assistant\n"));
            }
        }
        // transformers' own apply_chat_template on the same folder gives the same ids
        List<String> firstFive = new ArrayList<>();
        for (String line : conversations.subList(0, 5)) firstFive.add(json.readTree(line).get("messages").toString());
        Process apply = new ProcessBuilder(python, "-c", "import json, sys; from transformers import AutoTokenizer; t = AutoTokenizer.from_pretrained(sys.argv[1]); "
                + "print(json.dumps([t.apply_chat_template(m, tokenize=True, return_dict=False) for m in json.loads(sys.argv[2])]))",
                model.toString(), "[" + String.join(",", firstFive) + "]").redirectError(ProcessBuilder.Redirect.INHERIT).start();
        JsonNode theirs = json.readTree(new String(apply.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip().lines().reduce((a, b) -> b).orElse("[]"));
        assertTrue(apply.waitFor(5, TimeUnit.MINUTES) && apply.exitValue() == 0, "apply_chat_template failed");
        List<io.lorafleet.datasets.ShardRow> all = new ArrayList<>();
        for (String split : m.adapters().get("chat").rows().keySet()) all.addAll(ExecutorCache.rows(dir.resolve("shards").toString(), m, "chat", split, new Configuration()));
        for (int i = 0; i < 5; i++) {
            int line = i + 1;
            io.lorafleet.datasets.ShardRow ours = all.stream().filter(r -> r.line() == line).findFirst().orElseThrow();
            int[] expected = new int[theirs.get(i).size()];
            for (int k = 0; k < expected.length; k++) expected[k] = theirs.get(i).get(k).asInt();
            assertArrayEquals(expected, ours.inputIds(), "conversation " + line);
        }
        double[] loss = learn("chat-adapters", model, dir.resolve("shards"), 6, "chat");
        double first = loss[0], last = loss[1];
        System.out.printf("tiny Llama on conversations: validation loss of the assistant's turns %.3f → %.3f%n", first, last);
        assertTrue(last < 0.5 * first, "training lowers the loss of the assistant's turns: " + first + " → " + last);

        // lorafleet generate --chat: the prompt as a user's turn with the generation prompt, as apply_chat_template(add_generation_prompt=True) gives it
        String question = "Review: A wonderful, moving film with a great cast.\nSentiment?";
        String answer = Generate.run(new String[] {"--model", model.toString(), "--adapter", tmp.resolve("chat-adapters/chat").toString(), "--chat",
                "--prompt", question, "--max-new-tokens", "12"}, SparkJobs.hadoopConf());
        System.out.println("tiny Llama chat: " + answer.strip());
        Process prompt = new ProcessBuilder(python, "-c", "import json, sys; from transformers import AutoTokenizer; t = AutoTokenizer.from_pretrained(sys.argv[1]); "
                + "print(json.dumps(t.apply_chat_template([{'role': 'user', 'content': sys.argv[2]}], add_generation_prompt=True, tokenize=True, return_dict=False)))",
                model.toString(), question).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String expected = new String(prompt.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip().lines().reduce((a, b) -> b).orElse("");
        assertTrue(prompt.waitFor(5, TimeUnit.MINUTES) && prompt.exitValue() == 0, "apply_chat_template failed");
        assertEquals(json.readTree(expected), json.readTree(answer).get("prompt_ids"));
    }

}
