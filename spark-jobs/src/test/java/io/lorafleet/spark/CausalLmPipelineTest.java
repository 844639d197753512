package io.lorafleet.spark;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.lorafleet.datasets.DatasetSpec;
import io.lorafleet.datasets.Manifest;
import io.lorafleet.io.LocalModelFiles;
import io.lorafleet.io.PeftAdapter;
import io.lorafleet.io.PretrainedModel;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The pipeline for a GPT-2-family causal LM: real review text through a byte-level BPE tokenizer into packed
 * blocks, LoRA on the fused c_attn trained over Spark, a CAUSAL_LM PEFT adapter, and its perplexity. The
 * model is the committed GPT-2-layout fixture (random weights: no GPT-2 weights are available offline).
 */
class CausalLmPipelineTest {
    static final Path GPT2 = Path.of("../lora-dl4j/src/test/resources/gpt2-tiny").toAbsolutePath().normalize();
    @TempDir
    Path tmp;

    /** The first {@code reviews} IMDB reviews as plain text, tokenized by the fixture's byte-level BPE into 16-token blocks. */
    static Manifest tokenizeReviews(Path dir, int reviews, String adapterId) throws IOException {
        List<String> lines = new ArrayList<>();
        ObjectMapper json = new ObjectMapper();
        for (String line : Files.readAllLines(TokenizeJobTest.SAMPLE).subList(0, reviews)) lines.add(json.readTree(line).get("text").asText().replace('\n', ' '));
        Path text = dir.resolve("reviews.txt");
        Files.write(text, lines);
        String dataset = """
                tokenizer: %s
                output: %s
                objective: causal_lm
                max_length: 16
                eos_token_id: 279
                tasks:
                  - adapter_id: %s
                    inputs: [%s]
                    format: text
                """.formatted(GPT2, dir.resolve("shards"), adapterId, text);
        return TokenizeJob.tokenize(SparkTestSession.get(), DatasetSpec.load(dataset.getBytes(StandardCharsets.UTF_8), "lm.yaml", List.of()), false);
    }

    @Test
    void tokenizeTrainExportAndScoreALanguageModelAdapter() throws Exception {
        Manifest m = tokenizeReviews(tmp, 120, "reviews-lm");
        ObjectMapper json = new ObjectMapper();
        assertEquals("causal_lm", m.objective());

        String training = """
                model: %s
                shards: %s
                output: %s
                lora: {r: 4, alpha: 8, target_modules: [c_attn]}
                batch_size: 8
                partitions: 2
                local_steps: 3
                rounds: 8
                optimizer: {kind: adamw, learning_rate: 0.01}
                """.formatted(GPT2, tmp.resolve("shards"), tmp.resolve("adapters"));
        TrainJob.train(SparkTestSession.get(), TrainConfig.load(training.getBytes(StandardCharsets.UTF_8), "lm-train.yaml", List.of()), false, false);

        List<String> rounds = Files.readAllLines(tmp.resolve("adapters/_checkpoints/reviews-lm/metrics.jsonl"));
        double first = json.readTree(rounds.get(0)).get("loss").asDouble(), last = json.readTree(rounds.get(rounds.size() - 1)).get("loss").asDouble();
        assertTrue(last < first - 0.2, "training lowers the LM loss: " + first + " → " + last);

        Path adapter = tmp.resolve("adapters/reviews-lm");
        JsonNode config = json.readTree(adapter.resolve(PeftAdapter.CONFIG).toFile());
        assertEquals("CAUSAL_LM", config.get("task_type").asText());
        assertTrue(config.get("fan_in_fan_out").asBoolean());
        PeftAdapter read = PeftAdapter.read(new LocalModelFiles(adapter), PretrainedModel.load(new LocalModelFiles(GPT2)).config());
        assertTrue(read.tensors().containsKey("h.0.attn.c_attn.lora_A.weight"));

        Map<String, Object> eval = EvalAdapter.run(new String[] {"--model", GPT2.toString(), "--adapter", adapter.toString(), "--data",
                tmp.resolve("shards").toString(), "--split", "validation"}, new Configuration());
        double loss = (Double) eval.get("loss"), perplexity = (Double) eval.get("perplexity");
        assertEquals(Math.exp(loss), perplexity, 1e-9);
        assertTrue(perplexity < 280, "better than uniform over the vocabulary: " + perplexity);
    }

    @Test
    void anInstructionAdapterLearnsItsResponsesAndIsScoredOnThemAlone() throws Exception {
        // the real IMDB sample as instructions: a review's head in a prompt template, its label the response
        String dataset = """
                tokenizer: %s
                output: %s
                objective: instruction
                max_length: 24
                eos_token_id: 279
                tasks:
                  - adapter_id: sentiment
                    inputs: [%s]
                    format: jsonl
                    template: "Review: {text} Sentiment:"
                    response: label
                """.formatted(GPT2, tmp.resolve("shards"), TokenizeJobTest.SAMPLE);
        Manifest m = TokenizeJob.tokenize(SparkTestSession.get(), DatasetSpec.load(dataset.getBytes(StandardCharsets.UTF_8), "sft.yaml", List.of()), false);
        assertEquals("instruction", m.objective());
        List<io.lorafleet.datasets.ShardRow> rows = ExecutorCache.rows(tmp.resolve("shards").toString(), m, "sentiment", "train", new Configuration());
        io.lorafleet.datasets.ShardRow row = rows.get(0);
        assertEquals(24, row.length(), "a review's prompt is cut to leave room for the whole response");
        assertEquals(279, row.inputIds()[23], "the response ends with eos_token_id");
        io.lorafleet.model.TokenBatch batch = Batches.pad(rows.subList(0, 4), true);
        int learned = 0;
        for (int label : batch.labels()) if (label != io.lorafleet.nn.SoftmaxCrossEntropy.IGNORE_INDEX) learned++;
        int spans = 0;
        for (io.lorafleet.datasets.ShardRow r : rows.subList(0, 4)) spans += r.lossSpans()[1] - r.lossSpans()[0];
        assertEquals(spans, learned, "only the responses' tokens are labels");

        String training = """
                model: %s
                shards: %s
                output: %s
                lora: {r: 4, alpha: 8, target_modules: [c_attn, c_fc]}
                batch_size: 8
                local_steps: 4
                rounds: 12
                eval_every: 1
                optimizer: {kind: adamw, learning_rate: 0.02}
                """.formatted(GPT2, tmp.resolve("shards"), tmp.resolve("adapters"));
        TrainJob.train(SparkTestSession.get(), TrainConfig.load(training.getBytes(StandardCharsets.UTF_8), "sft-train.yaml", List.of()), false, false);
        ObjectMapper json = new ObjectMapper();
        List<String> history = Files.readAllLines(tmp.resolve("adapters/_checkpoints/sentiment/metrics.jsonl"));
        double first = json.readTree(history.get(0)).get("eval_loss").asDouble(), last = json.readTree(history.get(history.size() - 1)).get("eval_loss").asDouble();
        // the loss is over the responses' tokens only: "positive" or "negative" and the end of text; a uniform guess is ln 280 ≈ 5.6 per token
        System.out.println("instruction eval loss by round: " + history.stream().map(l -> {
            try {
                return String.format("%.3f", json.readTree(l).get("eval_loss").asDouble());
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }).toList());
        assertTrue(last < 0.4 * first, "training lowers the response loss: " + first + " → " + last);
        Map<String, Object> eval = EvalAdapter.run(new String[] {"--model", GPT2.toString(), "--adapter", tmp.resolve("adapters/sentiment").toString(),
                "--data", tmp.resolve("shards").toString(), "--split", "test", "--batch-size", "1"}, new Configuration());
        assertTrue((Double) eval.get("perplexity") < 10, "the responses' perplexity, against 280 for a uniform guess: " + eval);
        long responses = 0;
        for (io.lorafleet.datasets.ShardRow r : ExecutorCache.rows(tmp.resolve("shards").toString(), m, "sentiment", "test", new Configuration())) {
            responses += r.predictedTokens();
        }
        assertEquals(responses, ((Number) eval.get("predicted_tokens")).longValue(), "scored on the responses' tokens alone");
        // prompts of different lengths in batches of 1 and of 7: the mean over response tokens is the same
        Map<String, Object> batched = EvalAdapter.run(new String[] {"--model", GPT2.toString(), "--adapter", tmp.resolve("adapters/sentiment").toString(),
                "--data", tmp.resolve("shards").toString(), "--split", "test", "--batch-size", "7"}, new Configuration());
        assertEquals((Double) eval.get("loss"), (Double) batched.get("loss"), 1e-6);
    }
}
