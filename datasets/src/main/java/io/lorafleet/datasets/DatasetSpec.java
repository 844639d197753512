package io.lorafleet.datasets;

import java.io.IOException;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * What the tokenize job reads and writes: a YAML file such as
 * <pre>
 * tokenizer: runs/models/all-minilm-l6-v2   # a model folder (tokenizer.json + config.json) or a tokenizer.json
 * max_length: 128                           # (default 128) tokens per row; a task may set its own
 * objective: classification                 # (default); causal_lm: token streams packed into max_length blocks;
 *                                           #   instruction: a row per (prompt, response), the loss on the response only
 * output: runs/demo/shards
 * rows_per_file: 10000                      # (default) rows per Parquet shard file
 * max_bad_fraction: 0.05                    # (default) a task with more quarantined rows fails
 * split: {ratios: {train: 0.8, validation: 0.1, test: 0.1}, seed: 0}   # (default) the hash split
 * eos_token_id: 50256                       # causal_lm: appended after each document before packing; instruction:
 *                                           #   after each response (default: none)
 * bytes_per_split: 33554432                 # (default, 32 MiB) files larger are read by several Spark tasks, smaller ones grouped
 * tasks:
 *   - adapter_id: imdb                       # or adapter_id_field: a column holding it; several tasks may feed one adapter
 *     inputs: [datasets/imdb/sample/imdb-sample.jsonl]   # file://, hdfs://, s3a://; globs; folders
 *     format: jsonl                          # jsonl, json (a file = an object or an array of them), csv, tsv, parquet, text
 *     text: text                             # (default "text") the field holding the text, or:
 *     template: "{subject}\n\n{body}"          #   the text made of several fields ({{ and }} for braces)
 *     text_pair: null                        # a second text field (BERT's [SEP]-joined pair)
 *     label: label
 *     labels: [negative, positive]
 *     label_map: {neg: negative, pos: positive}   # source value → label; then any other value is quarantined
 *     split_field: split                     # the split per row (values: split_values, default the split ratios' names), or
 *     split: test                            #   one split for every row of this task's inputs, or
 *     hash_split: {ratios: {train: 0.9, validation: 0.1}}   # this task's own hash split (default: the spec's)
 *     max_length: 512                        # (default: the spec's) this task's tokens per row
 *     truncation: head                       # what a longer text keeps: head (default), tail, or head_tail
 *     prompt: instruction                    # instruction: the field holding the prompt (or template: "..." of fields;
 *     response: output                       #   tokenized with the tokenizer's special tokens, e.g. BOS) and the response
 *                                            #   (without; then eos_token_id). Too long: a prompt is cut (truncation, here by
 *                                            #   default head_tail) to keep the whole response; a longer response loses its tail
 *     messages: messages                     # instruction, or else: the field holding a conversation, [{role, content}, ...] (in
 *                                            #   CSV, TSV or Parquet a string of that JSON), rendered with the chat template and
 *                                            #   tokenized as a whole; the loss on each assistant turn (its text and the template's
 *                                            #   end of turn; eos_token_id is not added). Too long: the conversation keeps its head
 * chat_template: templates/chatml.jinja      # (default: the tokenizer folder's chat_template.jinja, else its tokenizer_config.json's
 *                                            #   chat_template) the Jinja template for tasks with messages; special tokens such as
 *                                            #   eos_token come from the folder's tokenizer_config.json
 * </pre>
 */
public record DatasetSpec(String tokenizer, Integer maxLength, Objective objective, String output, Integer rowsPerFile,
                          Double maxBadFraction, SplitRule split, Integer eosTokenId, Long bytesPerSplit, List<TaskSpec> tasks, String chatTemplate)
        implements java.io.Serializable {
    public enum Objective {
        CLASSIFICATION, CAUSAL_LM, INSTRUCTION;

        /** Whether the rows train a language model (its next-token loss). */
        public boolean languageModel() { return this != CLASSIFICATION; }
    }

    /** JSONL: an object per line; JSON: a file holding one object or an array of objects. */
    public enum Format { JSONL, JSON, CSV, TSV, PARQUET, TEXT }

    /** Which part of a text longer than max_length is kept (head_tail: the first quarter and the last three quarters of the budget). */
    public enum Truncation { HEAD, TAIL, HEAD_TAIL }

    /** Safe as one path segment on every file system: cannot be "..", hold a slash, or start with a dot. */
    private static final Pattern SAFE_NAME = Pattern.compile("[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}");

    public DatasetSpec {
        if (tokenizer == null || tokenizer.isBlank()) throw new IllegalArgumentException("tokenizer: required (a model folder or tokenizer.json)");
        if (output == null || output.isBlank()) throw new IllegalArgumentException("output: required");
        maxLength = maxLength == null ? 128 : maxLength;
        if (maxLength < 2 || maxLength > 65536) throw new IllegalArgumentException("max_length: must be in 2..65536, is " + maxLength);
        objective = objective == null ? Objective.CLASSIFICATION : objective;
        rowsPerFile = rowsPerFile == null ? 10_000 : rowsPerFile;
        if (rowsPerFile < 1) throw new IllegalArgumentException("rows_per_file: must be >= 1, is " + rowsPerFile);
        maxBadFraction = maxBadFraction == null ? 0.05 : maxBadFraction;
        if (!(maxBadFraction >= 0 && maxBadFraction <= 1)) throw new IllegalArgumentException("max_bad_fraction: must be in 0..1, is " + maxBadFraction);
        split = split == null ? SplitRule.DEFAULT : split;
        bytesPerSplit = bytesPerSplit == null ? 32L << 20 : bytesPerSplit;
        if (bytesPerSplit < 1) throw new IllegalArgumentException("bytes_per_split: must be >= 1, is " + bytesPerSplit);
        if (tasks == null || tasks.isEmpty()) throw new IllegalArgumentException("tasks: at least one task is required");
        tasks = new java.util.ArrayList<>(tasks);
        for (int i = 0; i < tasks.size(); i++) {
            TaskSpec t = tasks.get(i);
            if (objective == Objective.CLASSIFICATION && t.labels() == null) {
                throw new IllegalArgumentException("tasks[" + i + "].labels: required for classification");
            }
            if (objective == Objective.CLASSIFICATION && t.label() == null) {
                throw new IllegalArgumentException("tasks[" + i + "].label: required for classification (the field holding the label)");
            }
            if (objective == Objective.CAUSAL_LM && (t.labelMap() != null || t.truncation() != Truncation.HEAD)) {
                throw new IllegalArgumentException("tasks[" + i + "]: label_map and truncation do not apply to causal_lm (documents are packed, not cut)");
            }
            if ((objective == Objective.INSTRUCTION) != (t.response() != null || t.messages() != null)) {
                throw new IllegalArgumentException(objective == Objective.INSTRUCTION
                        ? "tasks[" + i + "].response: required for instruction (the field holding it), with prompt or template; or messages"
                        : "tasks[" + i + "]." + (t.response() != null ? "response" : "messages") + ": applies only to objective instruction");
            }
            if (t.splitField() != null && t.splitValues() == null) t = t.withSplitValues(List.copyOf(split.ratios().keySet()));
            tasks.set(i, t);
        }
        tasks = List.copyOf(tasks);
        if (chatTemplate != null && tasks.stream().noneMatch(t -> t.messages() != null)) {
            throw new IllegalArgumentException("chat_template: applies only to tasks with messages");
        }
    }

    /** Whether a task reads conversations, which need a chat template. */
    public boolean chat() {
        return tasks.stream().anyMatch(t -> t.messages() != null);
    }

    /** The tokens per row of task {@code i}: its own max_length, or the spec's. */
    public int maxLength(int task) {
        Integer own = tasks.get(task).maxLength();
        return own != null ? own : maxLength;
    }

    /** The hash split of task {@code i}: its own, or the spec's. */
    public SplitRule hashSplit(int task) {
        SplitRule own = tasks.get(task).hashSplit();
        return own != null ? own : split;
    }

    /** An adapter id as given in data or config, or null when it cannot be made a safe folder name. */
    public static String safeName(String id) {
        return id != null && SAFE_NAME.matcher(id).matches() && !id.equals(".") && !id.equals("..") ? id : null;
    }

    /**
     * One source of rows: its files, their format, which fields hold what, its adapter id (fixed, or per row
     * from {@code adapter_id_field}), how its rows are split, and how long they may be.
     */
    public record TaskSpec(String adapterId, String adapterIdField, List<String> inputs, Format format, String text, TextTemplate template,
                           String textPair, String label, List<String> labels, Map<String, String> labelMap, String splitField,
                           List<String> splitValues, String split, SplitRule hashSplit, Integer maxLength, Truncation truncation,
                           String prompt, String response, String messages)
            implements java.io.Serializable {
        public TaskSpec {
            if ((adapterId == null) == (adapterIdField == null)) throw new IllegalArgumentException("give exactly one of adapter_id and adapter_id_field");
            if (adapterId != null && safeName(adapterId) == null) {
                throw new IllegalArgumentException("adapter_id: '" + adapterId + "' is not a safe folder name (letters, digits, . _ -; not starting with a dot)");
            }
            if (inputs == null || inputs.isEmpty()) throw new IllegalArgumentException("inputs: at least one path is required");
            inputs = List.copyOf(inputs);
            if (format == null) throw new IllegalArgumentException("format: required (jsonl, json, csv, tsv, parquet, text)");
            if (template != null && text != null) throw new IllegalArgumentException("give text (one field) or template (several), not both");
            if (messages != null && (response != null || prompt != null || template != null || text != null || textPair != null || label != null || labels != null
                    || format == Format.TEXT)) {
                throw new IllegalArgumentException("a task with messages reads conversations; prompt, response, template, text, text_pair, label, labels "
                        + "and format text do not apply");
            }
            if (response != null && (prompt == null) == (template == null)) {
                throw new IllegalArgumentException("an instruction task needs its prompt: the field holding it (prompt) or a template of fields, not both");
            }
            if (response == null && prompt != null) throw new IllegalArgumentException("prompt: needs response (the field holding the response)");
            if (response != null && (text != null || textPair != null || label != null || labels != null || format == Format.TEXT)) {
                throw new IllegalArgumentException("an instruction task reads a prompt and a response; text, text_pair, label, labels and format text "
                        + "do not apply");
            }
            text = text == null && template == null && response == null && messages == null ? "text" : text;
            if (format == Format.TEXT && (label != null || textPair != null || adapterIdField != null || splitField != null || template != null)) {
                throw new IllegalArgumentException("format text: lines hold only text; label, text_pair, template, adapter_id_field and split_field do not apply");
            }
            if (labels != null) {
                if (labels.isEmpty()) throw new IllegalArgumentException("labels: must not be empty");
                if (new HashSet<>(labels).size() != labels.size()) throw new IllegalArgumentException("labels: repeated label in " + labels);
                labels = List.copyOf(labels);
            }
            if (labelMap != null) {
                if (labels == null) throw new IllegalArgumentException("label_map: needs labels (the names it maps to)");
                for (var e : labelMap.entrySet()) {
                    if (!labels.contains(e.getValue())) {
                        throw new IllegalArgumentException("label_map." + e.getKey() + ": '" + e.getValue() + "' is not one of labels " + labels);
                    }
                }
                labelMap = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(labelMap));
            }
            int splitRules = (splitField != null ? 1 : 0) + (split != null ? 1 : 0) + (hashSplit != null ? 1 : 0);
            if (splitRules > 1) throw new IllegalArgumentException("give at most one of split_field, split and hash_split");
            if (split != null && safeName(split) == null) throw new IllegalArgumentException("split: '" + split + "' is not a safe split name");
            if (splitValues != null) {
                if (splitField == null) throw new IllegalArgumentException("split_values: applies only with split_field");
                for (String v : splitValues) if (safeName(v) == null) throw new IllegalArgumentException("split_values: '" + v + "' is not a safe split name");
                splitValues = List.copyOf(splitValues);
            }
            if (maxLength != null && (maxLength < 2 || maxLength > 65536)) throw new IllegalArgumentException("max_length: must be in 2..65536, is " + maxLength);
            // an instruction prompt keeps its head and tail by default: a template's opening and its closing cue ("Answer:")
            truncation = truncation != null ? truncation : response == null ? Truncation.HEAD : Truncation.HEAD_TAIL;
            if (messages != null && truncation != Truncation.HEAD) throw new IllegalArgumentException("truncation: a conversation keeps its head");
            if (textPair != null && truncation != Truncation.HEAD) {
                throw new IllegalArgumentException("truncation: a text pair is cut longest-first; tail and head_tail apply to single texts");
            }
        }

        TaskSpec withSplitValues(List<String> values) {
            return new TaskSpec(adapterId, adapterIdField, inputs, format, text, template, textPair, label, labels, labelMap, splitField, values,
                    split, hashSplit, maxLength, truncation, prompt, response, messages);
        }

        /** Label name → class id, in the order given. */
        public Map<String, Integer> labelIds() {
            Map<String, Integer> ids = new LinkedHashMap<>();
            if (labels != null) for (String l : labels) ids.put(l, ids.size());
            return ids;
        }

        /** The fields a row must have: text (or the template's), text pair, label, prompt and response or messages, adapter id and split fields. */
        public List<String> fields() {
            List<String> fields = new java.util.ArrayList<>();
            if (template != null) fields.addAll(template.fields());
            for (String f : new String[] {text, textPair, label, prompt, response, messages, adapterIdField, splitField}) {
                if (f != null && !fields.contains(f)) fields.add(f);
            }
            return fields;
        }
    }

    /** A deterministic split by a hash of the text, for tasks without a split field. */
    public record SplitRule(Map<String, Double> ratios, Long seed) implements java.io.Serializable {
        public static final SplitRule DEFAULT = new SplitRule(null, null);

        public SplitRule {
            if (ratios == null) {
                ratios = new LinkedHashMap<>();
                ratios.put("train", 0.8);
                ratios.put("validation", 0.1);
                ratios.put("test", 0.1);
            }
            seed = seed == null ? 0L : seed;
            double sum = 0;
            for (var e : ratios.entrySet()) {
                if (safeName(e.getKey()) == null) throw new IllegalArgumentException("ratios: '" + e.getKey() + "' is not a safe split name");
                if (!(e.getValue() >= 0)) throw new IllegalArgumentException("ratios." + e.getKey() + ": must be >= 0");
                sum += e.getValue();
            }
            if (Math.abs(sum - 1) > 1e-9) throw new IllegalArgumentException("ratios: must sum to 1, sum to " + sum);
            ratios = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(ratios));
        }
    }

    public static DatasetSpec load(byte[] yaml, String source, List<String> overrides) throws IOException {
        return YamlConfig.load(yaml, source, overrides, DatasetSpec.class);
    }
}
