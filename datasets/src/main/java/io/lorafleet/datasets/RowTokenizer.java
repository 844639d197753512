package io.lorafleet.datasets;

import io.lorafleet.datasets.DatasetSpec.Objective;
import io.lorafleet.datasets.DatasetSpec.TaskSpec;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Validates and tokenizes the records of one input file, in order. Classification: one row per record.
 * Causal LM: each (adapter, split)'s token stream is cut into max_length blocks; a block never spans two
 * files, and the tail shorter than a block is counted as dropped. Row ids are ordinals within
 * (adapter, split) in this file; the job turns them into global ids.
 */
public final class RowTokenizer {
    private final DatasetSpec spec;
    private final int taskIndex;
    private final TaskSpec task;
    private final TextTokenizer tokenizer;
    private final Map<String, Integer> labelIds;
    private final Consumer<ShardRow> rows;
    private final Consumer<QuarantinedRow> quarantine;
    private final Map<String, Long> ordinals = new HashMap<>();
    private final Map<String, Stream> streams = new LinkedHashMap<>();
    private long droppedTailTokens;

    public RowTokenizer(DatasetSpec spec, int taskIndex, TextTokenizer tokenizer, Consumer<ShardRow> rows, Consumer<QuarantinedRow> quarantine) {
        this.spec = spec;
        this.taskIndex = taskIndex;
        this.task = spec.tasks().get(taskIndex);
        this.tokenizer = tokenizer;
        this.labelIds = task.labelIds();
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
        if (r.text() == null) {
            reject(r, BadRow.MISSING_TEXT, "no field '" + task.text() + "'");
            return;
        }
        if (r.text().isBlank() || (task.textPair() != null && (r.textPair() == null || r.textPair().isBlank()))) {
            reject(r, BadRow.EMPTY_TEXT, r.text().isBlank() ? "field '" + task.text() + "' is empty" : "field '" + task.textPair() + "' is missing or empty");
            return;
        }
        int label = ShardRow.NO_LABEL;
        if (spec.objective() == Objective.CLASSIFICATION) {
            if (r.label() == null) {
                reject(r, BadRow.MISSING_LABEL, "no field '" + task.label() + "'");
                return;
            }
            Integer id = labelIds.get(r.label());
            if (id == null) {
                reject(r, BadRow.UNKNOWN_LABEL, "label '" + r.label() + "' is not one of " + task.labels());
                return;
            }
            label = id;
        }
        String split;
        if (task.splitField() != null) {
            split = r.split();
            if (split == null || !spec.split().ratios().containsKey(split)) {
                reject(r, BadRow.UNKNOWN_SPLIT, "split '" + split + "' is not one of " + spec.split().ratios().keySet());
                return;
            }
        } else {
            split = hashSplit(r.text(), r.textPair());
        }
        TextTokenizer.Encoded e = task.textPair() != null ? tokenizer.encode(r.text(), r.textPair()) : tokenizer.encode(r.text());
        if (spec.objective() == Objective.CLASSIFICATION) {
            rows.accept(new ShardRow(adapter, split, nextOrdinal(adapter, split), e.ids(), e.typeIds(), label, r.source(), r.line()));
        } else {
            pack(adapter, split, e.ids(), r);
        }
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
        quarantine.accept(new QuarantinedRow(taskIndex, r.adapterId(), r.source(), r.line(), reason.code(), detail, r.raw()));
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
        Stream s = streams.computeIfAbsent(adapter + "/" + split, k -> new Stream(spec.maxLength()));
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

    /** The split of a text under the spec's ratios: a function of seed and text alone, so duplicates stay together. */
    String hashSplit(String text, String pair) {
        byte[] digest = sha256(spec.split().seed() + "\u0000" + text + (pair == null ? "" : "\u0000" + pair));
        long bits = ((digest[0] & 0xFFL) << 24) | ((digest[1] & 0xFFL) << 16) | ((digest[2] & 0xFFL) << 8) | (digest[3] & 0xFFL);
        double u = bits / 4294967296.0;
        double cumulative = 0;
        String last = null;
        for (var e : spec.split().ratios().entrySet()) {
            cumulative += e.getValue();
            last = e.getKey();
            if (u < cumulative) return last;
        }
        return last;
    }

    private static byte[] sha256(String s) {
        return io.lorafleet.io.Sha256.digest().digest(s.getBytes(StandardCharsets.UTF_8));
    }
}
