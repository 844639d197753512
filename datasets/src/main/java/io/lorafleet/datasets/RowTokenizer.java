package io.lorafleet.datasets;

import io.lorafleet.datasets.DatasetSpec.Objective;
import io.lorafleet.datasets.DatasetSpec.TaskSpec;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Validates and tokenizes the records of one input file, in order: labels mapped and checked, each row given its
 * split, texts cut to the task's max_length keeping its head, tail or both. Classification: one row per record.
 * Causal LM: each (adapter, split)'s token stream is cut into the task's max_length blocks; a block never spans two
 * files, and the tail shorter than a block is counted as dropped. Instruction: one row per record, the prompt's
 * tokens (with the tokenizer's special tokens) then the response's (without, then eos_token_id), the response's
 * tokens its loss span; see {@link #instruction} for rows over max_length. A conversation (a task with messages): one row, see
 * {@link #conversation}. Row ids are ordinals within
 * (adapter, split) in this file; the job turns them into global ids.
 */
public final class RowTokenizer {
    private final DatasetSpec spec;
    private final int taskIndex;
    private final TaskSpec task;
    private final TextTokenizer tokenizer;
    private final ChatTemplate chatTemplate;
    private final Map<String, Integer> labelIds;
    private final int maxLength;
    private final DatasetSpec.SplitRule hashSplit;
    private final Consumer<ShardRow> rows;
    private final Consumer<QuarantinedRow> quarantine;
    private final Map<String, Long> ordinals = new HashMap<>();
    private final Map<String, Stream> streams = new LinkedHashMap<>();
    private long droppedTailTokens;

    /** An offending value is kept to this many characters (a label field pointing at the text column would hold whole texts). */
    static final int VALUE_LIMIT = 200;

    /** Long enough never to cut a text before packing or before a tail / head_tail cut. */
    private static final int NO_TRUNCATION = 1 << 24;

    /**
     * The max_length to build the tokenizer of task {@code t} with: its own when the tokenizer cuts (keeping the
     * head), else unlimited — causal-LM documents are packed, and tail or head_tail cuts are made here after encoding.
     */
    public static int encodeLength(DatasetSpec spec, int t) {
        boolean cutsHere = spec.objective().languageModel() || spec.tasks().get(t).truncation() != DatasetSpec.Truncation.HEAD;
        return cutsHere ? NO_TRUNCATION : spec.maxLength(t);
    }

    /** Fails before any row is read when a task's max_length leaves no room for text between the tokenizer's special tokens. */
    public static void checkRoom(DatasetSpec spec, TextTokenizer tokenizer) {
        int special = java.util.Arrays.stream(tokenizer.encode("x").specialTokens()).sum();
        for (int t = 0; t < spec.tasks().size(); t++) {
            if (spec.maxLength(t) <= special) {
                throw new IllegalArgumentException("tasks[" + t + "].max_length: " + spec.maxLength(t) + " leaves no room for text beside the tokenizer's "
                        + special + " special tokens");
            }
        }
    }

    /**
     * @param tokenizer    built with {@link #encodeLength} of this task
     * @param chatTemplate renders the conversations of a task with messages (null for other tasks)
     */
    public RowTokenizer(DatasetSpec spec, int taskIndex, TextTokenizer tokenizer, ChatTemplate chatTemplate, Consumer<ShardRow> rows,
                        Consumer<QuarantinedRow> quarantine) {
        this.spec = spec;
        this.taskIndex = taskIndex;
        this.task = spec.tasks().get(taskIndex);
        this.tokenizer = tokenizer;
        if (task.messages() != null && chatTemplate == null) throw new IllegalArgumentException("tasks[" + taskIndex + "].messages: needs a chat template");
        this.chatTemplate = chatTemplate;
        this.labelIds = task.labelIds();
        this.maxLength = spec.maxLength(taskIndex);
        this.hashSplit = spec.hashSplit(taskIndex);
        this.rows = rows;
        this.quarantine = quarantine;
    }

    public void accept(SourceRecord r) {
        if (r.problem() != null) {
            reject(r, r.problem(), r.detail());
            return;
        }
        String adapter = DatasetSpec.safeName(r.adapterId());
        if (adapter == null) {
            reject(r, BadRow.BAD_ADAPTER_ID, r.adapterId() == null ? "missing adapter id in field '" + task.adapterIdField() + "'"
                    : "adapter id '" + r.adapterId() + "' is not a safe folder name (letters, digits, . _ -; not starting with a dot)");
            return;
        }
        if (task.messages() != null) {
            conversation(adapter, r);
            return;
        }
        String textField = task.prompt() != null ? task.prompt() : task.text() != null ? task.text() : "template";
        if (r.text() == null || (task.response() != null && r.response() == null)) {
            reject(r, BadRow.MISSING_TEXT, "no field '" + (r.text() == null ? textField : task.response()) + "'");
            return;
        }
        if (r.text().isBlank() || (task.textPair() != null && (r.textPair() == null || r.textPair().isBlank()))) {
            reject(r, BadRow.EMPTY_TEXT, r.text().isBlank() ? "field '" + textField + "' is empty" : "field '" + task.textPair() + "' is missing or empty");
            return;
        }
        if (task.response() != null && r.response().isBlank()) {
            reject(r, BadRow.EMPTY_TEXT, "field '" + task.response() + "' is empty");
            return;
        }
        int label = ShardRow.NO_LABEL;
        if (spec.objective() == Objective.CLASSIFICATION) {
            if (r.label() == null) {
                reject(r, BadRow.MISSING_LABEL, "no field '" + task.label() + "'");
                return;
            }
            String name = task.labelMap() == null ? r.label() : task.labelMap().get(r.label());
            Integer id = name == null ? null : labelIds.get(name);
            if (id == null) {
                reject(r, BadRow.UNKNOWN_LABEL, task.labelMap() == null ? "label is not one of " + task.labels() : "label is not a key of label_map",
                        r.label());
                return;
            }
            label = id;
        }
        String split = split(r, r.text(), task.response() != null ? null : r.textPair()); // an instruction's prompt alone: its responses stay together
        if (split == null) return;
        if (spec.objective() == Objective.INSTRUCTION) {
            instruction(adapter, split, r);
            return;
        }
        TextTokenizer.Encoded e = task.textPair() != null ? tokenizer.encode(r.text(), r.textPair()) : tokenizer.encode(r.text());
        if (spec.objective() == Objective.CLASSIFICATION && task.truncation() != DatasetSpec.Truncation.HEAD) {
            e = e.truncated(maxLength, task.truncation());
        }
        if (spec.objective() == Objective.CLASSIFICATION) {
            rows.accept(new ShardRow(adapter, split, nextOrdinal(adapter, split), e.ids(), e.typeIds(), label, r.source(), r.line()));
        } else {
            pack(adapter, split, e.ids(), r);
        }
    }

    /**
     * The prompt's tokens, then the response's and eos_token_id; the response is the loss span. Over max_length, the
     * prompt is cut (the task's truncation, by default head_tail: a template's opening and its closing cue, such as
     * "Answer:", both survive; special tokens kept) so that the whole response fits, while at
     * least one prompt token remains; else the response loses its tail; a prompt alone over max_length is quarantined.
     */
    private void instruction(String adapter, String split, SourceRecord r) {
        TextTokenizer.Encoded encodedPrompt = tokenizer.encode(r.text());
        int[] response = tokenizer.encodeContinuation(r.response()).ids();
        if (spec.eosTokenId() != null) {
            response = java.util.Arrays.copyOf(response, response.length + 1);
            response[response.length - 1] = spec.eosTokenId();
        }
        int specials = java.util.Arrays.stream(encodedPrompt.specialTokens()).sum();
        if (encodedPrompt.length() + response.length > maxLength && maxLength - response.length > specials) {
            encodedPrompt = encodedPrompt.truncated(maxLength - response.length, task.truncation());
        }
        int[] prompt = encodedPrompt.ids();
        if (prompt.length >= maxLength) {
            reject(r, BadRow.NO_ROOM_FOR_RESPONSE, "the prompt alone is " + prompt.length + " tokens; max_length " + maxLength + " leaves no room for the response");
            return;
        }
        int n = Math.min(maxLength, prompt.length + response.length);
        int[] ids = java.util.Arrays.copyOf(prompt, n);
        System.arraycopy(response, 0, ids, prompt.length, n - prompt.length);
        rows.accept(new ShardRow(adapter, split, nextOrdinal(adapter, split), ids, new int[n], ShardRow.NO_LABEL, r.source(), r.line(),
                new int[] {prompt.length, n}));
    }

    /** The row's split (given, from its split field, or by hashing {@code text} and {@code pair}), or null when it was quarantined for it. */
    private String split(SourceRecord r, String text, String pair) {
        if (task.split() != null) return task.split();
        if (task.splitField() == null) return hashSplit(text, pair);
        if (r.split() == null || !task.splitValues().contains(r.split())) {
            reject(r, BadRow.UNKNOWN_SPLIT, "split is not one of " + task.splitValues(), r.split());
            return null;
        }
        return r.split();
    }

    /**
     * A conversation rendered with the chat template and tokenized as a whole, as transformers' apply_chat_template
     * tokenizes it; the tokens starting in an assistant turn's text are its loss spans. Over max_length, it keeps its
     * head; a conversation whose first assistant token lies beyond is quarantined.
     */
    private void conversation(String adapter, SourceRecord r) {
        if (r.messages() == null) {
            reject(r, BadRow.MISSING_TEXT, "no field '" + task.messages() + "'");
            return;
        }
        List<Object> messages;
        ChatTemplate.Rendered rendered;
        try {
            messages = ChatTemplate.parseMessages(r.messages());
        } catch (IllegalArgumentException e) {
            reject(r, BadRow.BAD_MESSAGES, "field '" + task.messages() + "': " + e.getMessage());
            return;
        }
        try {
            rendered = chatTemplate.renderForTraining(messages);
        } catch (JinjaTemplate.TemplateException e) {
            reject(r, BadRow.CHAT_TEMPLATE_REFUSED, chatTemplate.source() + ": " + e.getMessage());
            return;
        }
        int[] chars = rendered.assistantSpans();
        if (chars.length == 0) {
            reject(r, BadRow.BAD_MESSAGES, "field '" + task.messages() + "': no assistant message to learn");
            return;
        }
        String split = split(r, JinjaBuiltins.toJson(messages, null, 0), null);
        if (split == null) return;
        TextTokenizer.Located tokens = tokenizer.encodeLocated(rendered.text());
        int n = Math.min(maxLength, tokens.ids().length);
        List<Integer> spans = new ArrayList<>();
        for (int position = 0; position < n; position++) {
            boolean learned = false;
            for (int k = 0; k < chars.length && !learned; k += 2) learned = inTurn(tokens.starts()[position], tokens.ends()[position], chars[k], chars[k + 1]);
            boolean open = spans.size() % 2 == 1;
            if (learned != open) spans.add(position);
        }
        if (spans.size() % 2 == 1) spans.add(n);
        if (spans.isEmpty()) {
            reject(r, BadRow.NO_ROOM_FOR_RESPONSE, "the conversation is " + tokens.ids().length + " tokens and its first assistant turn starts beyond max_length "
                    + maxLength);
            return;
        }
        rows.accept(new ShardRow(adapter, split, nextOrdinal(adapter, split), java.util.Arrays.copyOf(tokens.ids(), n), new int[n], ShardRow.NO_LABEL,
                r.source(), r.line(), spans.stream().mapToInt(Integer::intValue).toArray()));
    }

    /**
     * Whether a token covering characters [start, end) is the assistant's turn [from, to): a token that begins
     * before the turn but reaches into it is (it writes the turn's first characters); one that runs past its end is
     * not (it opens the next turn).
     */
    static boolean inTurn(int start, int end, int from, int to) {
        boolean reachesIn = end > from || (end == start && start >= from);
        return reachesIn && start < to && end <= to;
    }

    /** Ends the file: in causal LM mode, the unfinished blocks' tokens are counted as dropped. */
    public void finish() {
        for (Stream s : streams.values()) droppedTailTokens += s.fill;
        streams.clear();
    }

    public long droppedTailTokens() {
        return droppedTailTokens;
    }

    private void reject(SourceRecord r, BadRow reason, String detail) {
        reject(r, reason, detail, null);
    }

    /** {@code value}: the offending field value, which the job's error counts (the most frequent unknown labels). */
    private void reject(SourceRecord r, BadRow reason, String detail, String value) {
        String shown = value == null || value.length() <= VALUE_LIMIT ? value : value.substring(0, VALUE_LIMIT) + "…";
        quarantine.accept(new QuarantinedRow(taskIndex, r.adapterId(), r.source(), r.line(), reason.code(), detail, shown, r.raw()));
    }

    private long nextOrdinal(String adapter, String split) {
        return ordinals.merge(adapter + "/" + split, 1L, Long::sum) - 1;
    }

    /** A block being filled for one (adapter, split), remembering where its first token came from. */
    private static final class Stream {
        final int[] block;
        int fill;
        String source;
        long line;

        Stream(int length) {
            block = new int[length];
        }
    }

    private void pack(String adapter, String split, int[] ids, SourceRecord r) {
        Stream s = streams.computeIfAbsent(adapter + "/" + split, k -> new Stream(maxLength));
        int[] tokens = spec.eosTokenId() == null ? ids : java.util.Arrays.copyOf(ids, ids.length + 1);
        if (spec.eosTokenId() != null) tokens[ids.length] = spec.eosTokenId();
        for (int token : tokens) {
            if (s.fill == 0) {
                s.source = r.source();
                s.line = r.line();
            }
            s.block[s.fill++] = token;
            if (s.fill == s.block.length) {
                rows.accept(new ShardRow(adapter, split, nextOrdinal(adapter, split), s.block.clone(), new int[s.block.length], ShardRow.NO_LABEL,
                        s.source, s.line));
                s.fill = 0;
            }
        }
    }

    /** The split of a text under the task's hash rule: a function of seed and text alone, so duplicates stay together. */
    String hashSplit(String text, String pair) {
        byte[] digest = sha256(hashSplit.seed() + "\u0000" + text + (pair == null ? "" : "\u0000" + pair));
        long bits = ((digest[0] & 0xFFL) << 24) | ((digest[1] & 0xFFL) << 16) | ((digest[2] & 0xFFL) << 8) | (digest[3] & 0xFFL);
        double u = bits / 4294967296.0;
        double cumulative = 0;
        String last = null;
        for (var e : hashSplit.ratios().entrySet()) {
            cumulative += e.getValue();
            last = e.getKey();
            if (u < cumulative) return last;
        }
        return last;
    }

    private static byte[] sha256(String s) {
        return Sha256.digest().digest(s.getBytes(StandardCharsets.UTF_8));
    }
}
