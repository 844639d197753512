package io.lorafleet.datasets;

import java.io.IOException;
import java.util.List;
import java.util.Map;

/**
 * {@code manifest.json} beside the shards: what they hold, where it came from, what was dropped and why,
 * and each file's content hash. It is written last; a shard folder without it is incomplete. Every input line is
 * accounted for: a row read (valid, or quarantined) or a blank line ({@code blankLines}; null in manifests written before it was counted).
 * Quarantined rows are in the Parquet folder {@code quarantine} and, for people, in {@code quarantine + ".jsonl"}.
 *
 * @param tokenizerSha256      SHA-256 of the tokenizer.json bytes
 * @param tokenizerFingerprint {@link TextTokenizer#fingerprint}: what train and eval compare (null in manifests before it, which compare the bytes)
 * @param maxLength            the spec's max_length; an adapter's own is in its stats
 * @param chatTemplateSha256   SHA-256 of the chat template that rendered the conversations (null without)
 */
public record Manifest(int formatVersion, String objective, String tokenizer, String tokenizerSha256, String tokenizerFingerprint, int maxLength,
                       List<String> sources, Map<String, AdapterStats> adapters, long rowsRead, long rowsQuarantined, Long blankLines,
                       Map<String, Long> droppedByReason, long droppedTailTokens, String quarantine, List<ShardFile> shards,
                       String chatTemplateSha256)
        implements java.io.Serializable {
    public static final String FILE = "manifest.json";
    /** 2 added the tokenizer fingerprint and per-adapter max_length; version 1 manifests are still read. */
    /** 3: objective instruction, whose shards have the loss_spans column (earlier readers would ignore it and learn prompts). */
    public static final int FORMAT_VERSION = 3;

    /**
     * @param labels          class names in id order (empty for a causal LM)
     * @param rows            rows per split
     * @param labelHistogram  per split, rows per class name
     * @param lengthHistogram rows per token-length bin of {@code lengthBinWidth} tokens, from length 0
     * @param maxLength       the longest row its tasks allow (null in manifests before per-task lengths: the manifest's)
     */
    public record AdapterStats(List<String> labels, Map<String, Long> rows, Map<String, Long> tokens, Map<String, Map<String, Long>> labelHistogram,
                               int lengthBinWidth, List<Long> lengthHistogram, Integer maxLength)
            implements java.io.Serializable { }

    /** Whether the shards train a language model: causal_lm blocks or instruction rows (whose loss spans say which tokens count). */
    public boolean languageModel() {
        return !objective.equals("classification");
    }

    /** The longest row adapter {@code id} may have. */
    public int maxLength(String id) {
        AdapterStats a = adapters.get(id);
        return a == null || a.maxLength() == null ? maxLength : a.maxLength();
    }

    /** Whether shards of this manifest were tokenized as {@code tokenizerJson} tokenizes (by fingerprint, or by bytes in older manifests). */
    public boolean sameTokenizer(byte[] tokenizerJson, String source) throws IOException {
        return tokenizerFingerprint != null ? tokenizerFingerprint.equals(TextTokenizer.fingerprint(tokenizerJson, source))
                : tokenizerSha256.equals(Sha256.of(tokenizerJson));
    }

    /** @param path relative to the shard folder */
    public record ShardFile(String path, String adapterId, String split, long rows, long tokens, long bytes, String sha256)
            implements java.io.Serializable { }

    public byte[] toJson() throws IOException {
        return YamlConfig.json().writeValueAsBytes(this);
    }

    public static Manifest parse(byte[] json, String source) throws IOException {
        Manifest m = YamlConfig.bind(YamlConfig.json().readTree(json), Manifest.class, source);
        if (m.formatVersion() < 1 || m.formatVersion() > FORMAT_VERSION) {
            throw new IOException(source + ": format_version " + m.formatVersion() + " is not one this LoRAFleet reads (1 to " + FORMAT_VERSION + ")");
        }
        if (!java.util.Set.of("classification", "causal_lm", "instruction").contains(m.objective())) {
            throw new IOException(source + ": objective '" + m.objective() + "' is not classification, causal_lm or instruction");
        }
        return m;
    }
}
