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
}
