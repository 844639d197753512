package io.lorafleet.datasets;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The real all-MiniLM-L6-v2 tokenizer; expected ids are looked up in its vocab independently of the library. */
class TextTokenizerTest {
    static byte[] json;
    static JsonNode vocab;

    @BeforeAll
    static void load() throws IOException {
        try (InputStream in = TextTokenizerTest.class.getClassLoader().getResourceAsStream("all-minilm-l6-v2-tokenizer.json")) {
            json = in.readAllBytes();
        }
        vocab = new ObjectMapper().readTree(json).path("model").path("vocab");
    }

    static int id(String token) {
        assertTrue(vocab.has(token), token + " not in vocab");
        return vocab.get(token).asInt();
    }

    @Test
    void lowercasesStripsAccentsAndAddsSpecialTokens() throws IOException {
        try (TextTokenizer t = TextTokenizer.fromJson(json, 128, "minilm tokenizer.json")) {
            assertArrayEquals(new int[] {101, id("hello"), id("world"), 102}, t.encode("Hello WORLD").ids());
            assertArrayEquals(new int[] {101, id("cafe"), id("naive"), id("resume"), 102}, t.encode("Café NAÏVE résumé").ids());
            assertEquals(30522, t.vocabSize());
            assertEquals(64, t.sha256().length());
        }
    }

    @Test
    void unknownWordsSplitIntoWordPiecesThatSpellTheWord() throws IOException {
        try (TextTokenizer t = TextTokenizer.fromJson(json, 128, "minilm tokenizer.json")) {
            int[] ids = t.encode("supercalifragilisticexpialidocious").ids();
            assertTrue(ids.length > 3, "split into several pieces");
            String[] tokens = new String[vocab.size()];
            vocab.fields().forEachRemaining(e -> tokens[e.getValue().asInt()] = e.getKey());
            StringBuilder word = new StringBuilder();
            for (int i = 1; i < ids.length - 1; i++) word.append(tokens[ids[i]].replace("##", ""));
            assertEquals("supercalifragilisticexpialidocious", word.toString());
            assertArrayEquals(new int[] {101, id("[UNK]"), 102}, t.encode("\u2603").ids(), "a character outside the vocab is [UNK]");
        }
    }

    @Test
    void truncatesAt128And512KeepingTheClosingSeparator() throws IOException {
        String longText = "word ".repeat(1000);
        for (int max : new int[] {128, 512}) {
            try (TextTokenizer t = TextTokenizer.fromJson(json, max, "minilm tokenizer.json")) {
                TextTokenizer.Encoded e = t.encode(longText);
                assertEquals(max, e.length());
                assertEquals(101, e.ids()[0]);
                assertEquals(102, e.ids()[max - 1]);
            }
        }
    }

    @Test
    void pairsGetSegmentIds() throws IOException {
        try (TextTokenizer t = TextTokenizer.fromJson(json, 128, "minilm tokenizer.json")) {
            TextTokenizer.Encoded e = t.encode("first part", "second");
            assertArrayEquals(new int[] {101, id("first"), id("part"), 102, id("second"), 102}, e.ids());
            assertArrayEquals(new int[] {0, 0, 0, 0, 1, 1}, e.typeIds());
            assertArrayEquals(new int[] {1, 1, 1, 1, 1, 1}, e.attentionMask());
        }
    }

    @Test
    void aVocabLargerThanTheEmbeddingIsRefusedNamingTheFile() throws IOException {
        try (TextTokenizer t = TextTokenizer.fromJson(json, 128, "/models/minilm/tokenizer.json")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.checkFits(30000, "/models/minilm/model.safetensors"));
            assertTrue(e.getMessage().contains("/models/minilm/tokenizer.json") && e.getMessage().contains("30522"), e.getMessage());
            t.checkFits(30522, "model");
        }
        IOException e = assertThrows(IOException.class, () -> TextTokenizer.fromJson("{\"model\": {}}".getBytes(), 128, "/x/tokenizer.json"));
        assertTrue(e.getMessage().contains("/x/tokenizer.json"), e.getMessage());
    }

    @Test
    void aLongTextKeepsItsHeadItsTailOrBothAroundTheSpecialTokens() throws IOException {
        StringBuilder words = new StringBuilder();
        for (int i = 0; i < 300; i++) words.append(i).append(' ');
        try (TextTokenizer whole = TextTokenizer.fromJson(json, 1 << 20, "minilm tokenizer.json");
             TextTokenizer cut = TextTokenizer.fromJson(json, 16, "minilm tokenizer.json")) {
            TextTokenizer.Encoded all = whole.encode(words.toString());
            int n = all.length();
            assertEquals(302, n, "300 numbers, each one token, between [CLS] and [SEP]");
            int[] ids = all.ids();
            assertArrayEquals(cut.encode(words.toString()).ids(), all.truncated(16, DatasetSpec.Truncation.HEAD).ids(), "head: as the tokenizer cuts");
            int[] tail = new int[16];
            tail[0] = 101;
            System.arraycopy(ids, n - 15, tail, 1, 15);
            assertArrayEquals(tail, all.truncated(16, DatasetSpec.Truncation.TAIL).ids());
            int[] both = new int[16]; // 14 tokens of room: the first 3 and the last 11
            both[0] = 101;
            System.arraycopy(ids, 1, both, 1, 3);
            System.arraycopy(ids, n - 12, both, 4, 12);
            assertArrayEquals(both, all.truncated(16, DatasetSpec.Truncation.HEAD_TAIL).ids());
            assertEquals(102, both[15]);
            TextTokenizer.Encoded tailCut = all.truncated(16, DatasetSpec.Truncation.TAIL);
            assertEquals(16, tailCut.typeIds().length);
            assertEquals(16, tailCut.attentionMask().length);
            assertTrue(all.truncated(400, DatasetSpec.Truncation.TAIL) == all, "a text that fits is not touched");
        }
    }

    @Test
    void theFingerprintIsWhatDecidesTheIdsNotTheFileBytes() throws IOException {
        ObjectMapper mapper = new ObjectMapper();
        com.fasterxml.jackson.databind.node.ObjectNode other = (com.fasterxml.jackson.databind.node.ObjectNode) mapper.readTree(json);
        other.putObject("truncation").put("max_length", 512).put("strategy", "LongestFirst");
        other.putObject("padding").put("pad_id", 0);
        other.remove("decoder");
        byte[] reformatted = mapper.writerWithDefaultPrettyPrinter().writeValueAsBytes(other);
        assertTrue(!sha256(json).equals(sha256(reformatted)), "the files differ");
        assertEquals(TextTokenizer.fingerprint(json, "a"), TextTokenizer.fingerprint(reformatted, "b"));
        ((com.fasterxml.jackson.databind.node.ObjectNode) other.path("model").path("vocab")).put("lorafleet", 30522);
        assertTrue(!TextTokenizer.fingerprint(json, "a").equals(TextTokenizer.fingerprint(mapper.writeValueAsBytes(other), "c")), "a new token changes it");
        ((com.fasterxml.jackson.databind.node.ObjectNode) other.path("model").path("vocab")).remove("lorafleet");
        ((com.fasterxml.jackson.databind.node.ObjectNode) other.path("normalizer")).put("lowercase", false);
        assertTrue(!TextTokenizer.fingerprint(json, "a").equals(TextTokenizer.fingerprint(mapper.writeValueAsBytes(other), "d")), "so does the normalizer");
    }

    private static String sha256(byte[] bytes) {
        return Sha256.of(bytes);
    }
}
