package io.lorafleet.datasets;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.Map;

/**
 * A model's tokenizer.json (WordPiece for BERT, byte-level BPE for GPT-2) through Hugging Face's own
 * tokenizers library (DJL binding): special tokens added, truncation to maxLength, no padding — batches
 * pad later, to their own longest sequence.
 */
public final class TextTokenizer implements AutoCloseable {
    /** Token ids, segment ids (0 for the first text, 1 for the pair) and the attention mask (all 1). */
    public record Encoded(int[] ids, int[] typeIds, int[] attentionMask) {
        public int length() { return ids.length; }
    }

    private final HuggingFaceTokenizer tokenizer;
    private final int maxLength;
    private final int vocabSize;
    private final String sha256;
    private final String source;

    private TextTokenizer(HuggingFaceTokenizer tokenizer, int maxLength, int vocabSize, String sha256, String source) {
        this.tokenizer = tokenizer;
        this.maxLength = maxLength;
        this.vocabSize = vocabSize;
        this.sha256 = sha256;
        this.source = source;
    }

    /** Loads tokenizer.json bytes; {@code source} names the file in errors. */
    public static TextTokenizer fromJson(byte[] tokenizerJson, int maxLength, String source) throws IOException {
        if (maxLength < 2) throw new IllegalArgumentException("max_length must be >= 2, got " + maxLength);
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(tokenizerJson);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IOException(source + ": not valid JSON: " + e.getOriginalMessage());
        }
        JsonNode vocab = root == null ? null : root.path("model").get("vocab");
        if (vocab == null || !vocab.isObject()) throw new IOException(source + ": no model.vocab; not a Hugging Face tokenizer.json");
        int size = 0;
        for (var it = vocab.elements(); it.hasNext(); ) size = Math.max(size, it.next().asInt() + 1);
        for (JsonNode added : root.path("added_tokens")) size = Math.max(size, added.path("id").asInt() + 1);
        Map<String, String> options = Map.of("truncation", "true", "maxLength", String.valueOf(maxLength), "padding", "false",
                "addSpecialTokens", "true");
        HuggingFaceTokenizer t = HuggingFaceTokenizer.newInstance(new ByteArrayInputStream(tokenizerJson), options);
        return new TextTokenizer(t, maxLength, size, sha256(tokenizerJson), source);
    }

    public Encoded encode(String text) {
        return convert(tokenizer.encode(text));
    }

    /** A text pair ([CLS] a [SEP] b [SEP] for BERT), truncated longest-first to maxLength. */
    public Encoded encode(String text, String pair) {
        return convert(tokenizer.encode(text, pair));
    }

    private static Encoded convert(Encoding e) {
        return new Encoded(toInt(e.getIds()), toInt(e.getTypeIds()), toInt(e.getAttentionMask()));
    }

    private static int[] toInt(long[] v) {
        int[] out = new int[v.length];
        for (int i = 0; i < v.length; i++) out[i] = Math.toIntExact(v[i]);
        return out;
    }

    /** Fails, naming the file, when the tokenizer can emit ids the model's embedding has no row for. */
    public void checkFits(int embeddingRows, String modelSource) {
        if (vocabSize > embeddingRows) {
            throw new IllegalArgumentException(source + ": tokenizer has " + vocabSize + " token ids but " + modelSource
                    + " embeds only " + embeddingRows + "; they do not belong together");
        }
    }

    public int vocabSize() { return vocabSize; }

    public int maxLength() { return maxLength; }

    /** SHA-256 of the tokenizer.json bytes: shards record it, training checks it against the model's. */
    public String sha256() { return sha256; }

    @Override
    public void close() {
        tokenizer.close();
    }

    private static String sha256(byte[] bytes) {
        return io.lorafleet.io.Sha256.of(bytes);
    }
}
