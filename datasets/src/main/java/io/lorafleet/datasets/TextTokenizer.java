package io.lorafleet.datasets;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.List;
import java.util.Map;

/**
 * A model's tokenizer.json (WordPiece for BERT, byte-level BPE for GPT-2) through Hugging Face's own
 * tokenizers library (DJL binding): special tokens added, truncation to maxLength, no padding — batches
 * pad later, to their own longest sequence.
 */
public final class TextTokenizer implements AutoCloseable {
    /** Token ids, segment ids (0 for the first text, 1 for the pair), the attention mask (all 1) and which tokens are special ([CLS], [SEP]). */
    public record Encoded(int[] ids, int[] typeIds, int[] attentionMask, int[] specialTokens) {
        public int length() { return ids.length; }

        /**
         * At most {@code maxLength} tokens of a single text, keeping its leading and trailing special tokens and,
         * of the text between them, the head, the tail, or the first quarter and last three quarters of the room
         * (head_tail: what long reviews and e-mails with headers need; Sun et al. 2019 found it best for long texts).
         */
        public Encoded truncated(int maxLength, DatasetSpec.Truncation keep) {
            int n = ids.length;
            if (n <= maxLength) return this;
            for (int type : typeIds) if (type != 0) throw new IllegalArgumentException("a text pair is cut by the tokenizer (longest first), not here");
            int lead = 0, trail = 0;
            while (lead < n && specialTokens[lead] == 1) lead++;
            while (trail < n - lead && specialTokens[n - 1 - trail] == 1) trail++;
            int room = maxLength - lead - trail;
            if (room < 1) throw new IllegalArgumentException("max_length " + maxLength + " leaves no room between " + (lead + trail) + " special tokens");
            int head = switch (keep) {
                case HEAD -> room;
                case TAIL -> 0;
                case HEAD_TAIL -> room / 4;
            };
            int[] kept = new int[maxLength];
            int k = 0;
            for (int i = 0; i < lead + head; i++) kept[k++] = i;
            for (int i = n - trail - (room - head); i < n; i++) kept[k++] = i;
            return new Encoded(pick(ids, kept), pick(typeIds, kept), pick(attentionMask, kept), pick(specialTokens, kept));
        }

        private static int[] pick(int[] v, int[] at) {
            int[] out = new int[at.length];
            for (int i = 0; i < at.length; i++) out[i] = v[at[i]];
            return out;
        }
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

    /** A text that continues another (an instruction's response): no special tokens added; cut only at the tokenizer's max_length. */
    public Encoded encodeContinuation(String text) {
        return convert(tokenizer.encode(text, false, false));
    }

    /**
     * A continuation's token ids (no special tokens added; those written in the text, such as {@code <|im_start|>}, are
     * recognized) and the characters each token covers, [starts[i], ends[i]) as Java string indices: which tokens a range
     * of characters holds. Byte-level tokenizers report a token's leading space outside it (an empty range at times).
     */
    public record Located(int[] ids, int[] starts, int[] ends) { }

    public Located encodeLocated(String text) {
        Encoding e = tokenizer.encode(text, false, false);
        ai.djl.huggingface.tokenizers.jni.CharSpan[] spans = e.getCharTokenSpans();
        int[] index = new int[text.codePointCount(0, text.length()) + 1]; // the tokenizers library counts code points, Java strings UTF-16 units
        for (int cp = 0, at = 0; cp < index.length; cp++) {
            index[cp] = at;
            if (at < text.length()) at += Character.charCount(text.codePointAt(at));
        }
        int[] starts = new int[spans.length], ends = new int[spans.length];
        int previous = 0;
        for (int i = 0; i < spans.length; i++) {
            starts[i] = spans[i] == null ? previous : index[Math.min(spans[i].getStart(), index.length - 1)];
            ends[i] = spans[i] == null ? previous : Math.max(starts[i], index[Math.min(spans[i].getEnd(), index.length - 1)]);
            previous = ends[i];
        }
        return new Located(toInt(e.getIds()), starts, ends);
    }

    /** The text of token ids, special tokens (BOS, EOS) left out: what a model generated, as a person reads it. */
    public String decode(int[] ids) {
        long[] v = new long[ids.length];
        for (int i = 0; i < ids.length; i++) v[i] = ids[i];
        return tokenizer.decode(v, true);
    }

    /** A text pair ([CLS] a [SEP] b [SEP] for BERT), truncated longest-first to maxLength. */
    public Encoded encode(String text, String pair) {
        return convert(tokenizer.encode(text, pair));
    }

    private static Encoded convert(Encoding e) {
        return new Encoded(toInt(e.getIds()), toInt(e.getTypeIds()), toInt(e.getAttentionMask()), toInt(e.getSpecialTokenMask()));
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

    /** The parts of a tokenizer.json that decide which ids a text gets; truncation, padding and the decoder do not. */
    private static final List<String> ID_DECIDING = List.of("model", "normalizer", "pre_tokenizer", "post_processor", "added_tokens");

    /**
     * SHA-256 of what decides a tokenizer's ids ({@link #ID_DECIDING}, keys sorted, whitespace-free), so that
     * shards made with one model's tokenizer.json are accepted for another whose file differs only in, say, its
     * truncation or padding block.
     */
    public static String fingerprint(byte[] tokenizerJson, String source) throws IOException {
        ObjectMapper json = new ObjectMapper().enable(com.fasterxml.jackson.databind.SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS);
        JsonNode root = json.readTree(tokenizerJson);
        if (root == null || !root.isObject()) throw new IOException(source + ": not a tokenizer.json (no JSON object)");
        Map<String, Object> deciding = new java.util.TreeMap<>();
        for (String key : ID_DECIDING) deciding.put(key, json.treeToValue(root.path(key), Object.class));
        return sha256(json.writeValueAsBytes(deciding));
    }

    private static String sha256(byte[] bytes) {
        return Sha256.of(bytes);
    }
}
