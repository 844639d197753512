package io.lorafleet.spark;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lorafleet.datasets.ChatTemplate;
import io.lorafleet.datasets.TextTokenizer;
import io.lorafleet.datasets.YamlConfig;
import io.lorafleet.io.PeftAdapter;
import io.lorafleet.io.PretrainedModel;
import io.lorafleet.model.CausalLm;
import io.lorafleet.model.Generator;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code lorafleet generate --model DIR [--adapter DIR [--merge]] (--prompt TEXT ... | --prompts FILE) ...}: continues
 * each prompt with a causal LM — the base, or the base with an adapter (applied as trained, or with {@code --merge}
 * folded into the weights first) — greedily by default, or sampled ({@code --temperature}, {@code --top-k},
 * {@code --top-p}, {@code --seed}; transformers' top_k default of 50), until the model's end-of-text token
 * (generation_config.json's eos_token_id, else config.json's) or {@code --max-new-tokens}. generation_config.json's
 * repetition_penalty applies, as in transformers; its other logits processors are refused rather than ignored; its
 * sampling defaults (do_sample, temperature, top_k, top_p) do not apply: the command line decides. A prompts file has one
 * prompt per line, or for .jsonl a "prompt" field per line. With {@code --chat}, each prompt is a user's message rendered
 * with the model folder's chat template and its generation prompt, as a chat model expects (as transformers'
 * apply_chat_template with add_generation_prompt). Writes one JSON line per prompt (prompt, completion, prompt_ids,
 * ids: the generated ids) to {@code --out} or stdout.
 */
public final class Generate {
    static final String USAGE = "lorafleet generate --model DIR [--adapter DIR] [--merge] [--prompt TEXT ...] [--prompts FILE] [--max-new-tokens 32] "
            + "[--temperature 0] [--top-k 50] [--top-p 1] [--seed 0] [--chat] [--out FILE] [--overwrite]";
    static final String GENERATION_CONFIG = "generation_config.json";

    public static void main(String[] args) {
        SparkJobs.main(USAGE, args, line -> {
            String out = run(args, SparkJobs.hadoopConf());
            if (!out.isEmpty()) System.out.print(out);
            return 0;
        });
    }

    /** The JSON lines, or "" when they went to --out. */
    static String run(String[] args, Configuration conf) throws IOException {
        CommandLine line = CommandLine.parse(USAGE, args);
        int maxNewTokens = whole(line, "--max-new-tokens", "32");
        double temperature, topP;
        int topK;
        long seed;
        try {
            temperature = Double.parseDouble(line.value("--temperature", "0"));
            topK = Integer.parseInt(line.value("--top-k", "50"));
            topP = Double.parseDouble(line.value("--top-p", "1"));
            seed = Long.parseLong(line.value("--seed", "0"));
            new Generator.Sampling(temperature, topK, topP, 1, seed); // checks the ranges before anything is loaded
        } catch (IllegalArgumentException e) {
            throw line.problem("--temperature, --top-k, --top-p, --seed: " + e.getMessage());
        }
        String outUri = line.value("--out", null);
        if (outUri != null) OutputFolder.requireAbsent(outUri, conf, line.flag("--overwrite"));
        List<String> prompts = prompts(line, conf);

        String modelUri = line.value("--model", null), adapterUri = line.value("--adapter", null);
        HadoopModelFiles files = new HadoopModelFiles(modelUri, conf);
        Generator.Sampling sampling = new Generator.Sampling(temperature, topK, topP, repetitionPenalty(files), seed);
        CausalLm model;
        if (adapterUri != null) {
            LoadedAdapter loaded = LoadedAdapter.load(modelUri, adapterUri, conf);
            if (loaded.adapter().taskType() != PeftAdapter.TaskType.CAUSAL_LM) throw line.problem("--adapter " + adapterUri + " is a classifier, not a causal LM");
            model = loaded.causalLm();
            if (line.flag("--merge")) model.merge();
        } else {
            if (line.flag("--merge")) throw line.problem("--merge needs --adapter");
            PretrainedModel base = PretrainedModel.load(files);
            model = CausalLm.frozen(base.config(), base.weights());
        }
        if (!model.config().causal()) throw line.problem("--model " + modelUri + " is " + model.config().architecture().modelType() + ", not a decoder");

        StringBuilder out = new StringBuilder();
        try (TextTokenizer tokenizer = TextTokenizer.fromJson(files.readAll(PretrainedModel.TOKENIZER), model.config().maxPositions(),
                files.describe(PretrainedModel.TOKENIZER))) {
            List<int[]> ids = new ArrayList<>();
            ChatTemplate chat = line.flag("--chat") ? chatTemplate(files, line) : null;
            for (String p : prompts) {
                ids.add(chat == null ? tokenizer.encode(p).ids() : tokenizer.encodeContinuation(chat.render(List.of(Map.of("role", "user", "content", p)), true)).ids());
            }
            List<int[]> generated = Generator.generate(model, ids, maxNewTokens, stopIds(files), sampling);
            for (int i = 0; i < prompts.size(); i++) {
                ObjectNode o = YamlConfig.json().createObjectNode();
                o.put("prompt", prompts.get(i));
                o.put("completion", tokenizer.decode(generated.get(i)));
                for (int id : ids.get(i)) o.withArray("prompt_ids").add(id);
                o.putArray("ids");
                for (int id : generated.get(i)) o.withArray("ids").add(id);
                out.append(YamlConfig.jsonLine(o)).append('\n');
            }
        }
        if (outUri == null) return out.toString();
        Path file = new Path(outUri);
        OutputFolder.writeFile(file.getFileSystem(conf), file, out.toString().getBytes(StandardCharsets.UTF_8));
        System.err.println("generated " + prompts.size() + " completion(s) → " + outUri);
        return "";
    }

    private static ChatTemplate chatTemplate(HadoopModelFiles files, CommandLine line) throws IOException {
        TokenizeJob.Chat chat = TokenizeJob.Chat.ofFolder(files);
        if (chat == null) {
            throw line.problem("--chat: the model has no chat template: " + TokenizeJob.Chat.missing(files));
        }
        return chat.parse();
    }

    private static List<String> prompts(CommandLine line, Configuration conf) throws IOException {
        List<String> prompts = new ArrayList<>(line.values("--prompt"));
        String file = line.value("--prompts", null);
        if (file != null) {
            int n = 0;
            boolean jsonl = file.toLowerCase(java.util.Locale.ROOT).endsWith(".jsonl");
            for (String l : new String(SparkJobs.readFile(file, conf), StandardCharsets.UTF_8).split("\\R")) {
                n++;
                if (l.isBlank()) continue;
                if (!jsonl) {
                    prompts.add(l);
                    continue;
                }
                JsonNode row = YamlConfig.json().readTree(l);
                if (row == null || !row.path("prompt").isTextual()) throw new IOException(file + ": line " + n + " has no \"prompt\" string");
                prompts.add(row.get("prompt").asText());
            }
        }
        if (prompts.isEmpty()) throw line.problem("give --prompt TEXT or --prompts FILE");
        return prompts;
    }

    /** The end-of-text ids: generation_config.json's eos_token_id (a number or a list), else config.json's; none → generate to the limit. */
    static Set<Integer> stopIds(HadoopModelFiles files) throws IOException {
        Set<Integer> ids = new HashSet<>();
        for (String name : List.of(GENERATION_CONFIG, PretrainedModel.CONFIG)) {
            if (!files.exists(name)) continue;
            JsonNode eos = YamlConfig.json().readTree(files.readAll(name)).path("eos_token_id");
            if (eos.isIntegralNumber()) ids.add(eos.asInt());
            eos.forEach(id -> ids.add(id.asInt()));
            if (!ids.isEmpty()) break;
        }
        return ids;
    }

    /**
     * generation_config.json's repetition_penalty (1 without one). Its other logits processors would change even greedy
     * tokens in transformers; a model that sets one is refused, naming it, rather than continued differently.
     */
    static double repetitionPenalty(HadoopModelFiles files) throws IOException {
        if (!files.exists(GENERATION_CONFIG)) return 1;
        JsonNode g = YamlConfig.json().readTree(files.readAll(GENERATION_CONFIG));
        for (String key : List.of("no_repeat_ngram_size", "encoder_no_repeat_ngram_size", "min_length", "min_new_tokens", "bad_words_ids",
                "suppress_tokens", "begin_suppress_tokens", "forced_bos_token_id", "forced_eos_token_id", "sequence_bias",
                "exponential_decay_length_penalty", "encoder_repetition_penalty", "forced_decoder_ids", "epsilon_cutoff", "eta_cutoff",
                "min_p", "typical_p", "guidance_scale", "watermarking_config")) {
            JsonNode v = g.path(key);
            boolean neutral = v.isMissingNode() || v.isNull() || (v.isNumber() && v.asDouble() == (key.equals("encoder_repetition_penalty")
                    || key.equals("typical_p") ? 1 : 0)) || (v.isArray() && v.isEmpty());
            if (!neutral) throw new IOException(files.describe(GENERATION_CONFIG) + ": " + key + " " + v + " is a generation setting we do not apply");
        }
        JsonNode penalty = g.path("repetition_penalty");
        return penalty.isNumber() ? penalty.asDouble() : 1;
    }

    private static int whole(CommandLine line, String option, String fallback) {
        try {
            int v = Integer.parseInt(line.value(option, fallback));
            if (v < 1) throw line.problem(option + " must be at least 1");
            return v;
        } catch (NumberFormatException e) {
            throw line.problem(option + " must be a whole number, not " + line.value(option, fallback));
        }
    }
}
