package io.lorafleet.datasets;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Our token ids for 1,000 real IMDB reviews and hand-picked edge cases equal (a) the ids of the model
 * jar's own tokenizer path (langchain4j's OnnxBertBiEncoder: DJL with padding off, specials added, and the
 * truncation at 128 that the jar's tokenizer.json sets) and (b) an independent WordPiece implementation
 * over the same vocab, at truncation 128 and 512.
 */
class TokenizerParityTest {
    static byte[] json;
    static List<String> texts = new ArrayList<>();

    @BeforeAll
    static void load() throws IOException {
        try (InputStream in = TokenizerParityTest.class.getClassLoader().getResourceAsStream("all-minilm-l6-v2-tokenizer.json")) {
            json = in.readAllBytes();
        }
        ObjectMapper mapper = new ObjectMapper();
        for (String line : Files.readAllLines(Path.of("imdb/sample/imdb-sample.jsonl"))) texts.add(mapper.readTree(line).get("text").asText());
        texts.addAll(List.of("Café NAÏVE résumé Ångström", "supercalifragilisticexpialidocious", "日本語のテキスト and 中文",
                "emoji 🙂 and ☃ snowman", "tabs\tand\nnewlines\r\n", "x".repeat(150), "don't-stop,pls!!! (really)?", "",
                "ﬁnancial ligature and Ｆｕｌｌwidth", "zero\u200Bwidth and soft\u00ADhyphen", "İstanbul ß ǅ"));
    }

    static Map<String, Integer> vocab() throws IOException {
        JsonNode v = new ObjectMapper().readTree(json).path("model").path("vocab");
        Map<String, Integer> map = new HashMap<>();
        v.fields().forEachRemaining(e -> map.put(e.getKey(), e.getValue().asInt()));
        return map;
    }

    static int[] toInts(long[] ids) {
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) out[i] = Math.toIntExact(ids[i]);
        return out;
    }

    @Test
    void idsEqualTheModelJarsOwnTokenizerPath() throws IOException {
        try (HuggingFaceTokenizer jars = HuggingFaceTokenizer.newInstance(new ByteArrayInputStream(json), Map.of("padding", "false"));
             TextTokenizer ours = TextTokenizer.fromJson(json, 128, "tokenizer.json")) {
            int truncated = 0;
            for (String text : texts) {
                int[] expected = toInts(jars.encode(text, true, false).getIds());
                assertArrayEquals(expected, ours.encode(text).ids(), text);
                if (expected.length == 128) truncated++;
            }
            assertTrue(truncated > 100, "truncation exercised: " + truncated);
        }
    }

    @Test
    void idsEqualAnIndependentWordPieceImplementation() throws IOException {
        WordPieceReference reference = new WordPieceReference(vocab());
        for (int max : new int[] {128, 512}) {
            try (TextTokenizer ours = TextTokenizer.fromJson(json, max, "tokenizer.json")) {
                int truncated = 0;
                for (String text : texts) {
                    int[] expected = reference.encode(text, max);
                    TextTokenizer.Encoded e = ours.encode(text);
                    assertArrayEquals(expected, e.ids(), () -> "max " + max + ": " + text);
                    assertEquals(e.length(), e.attentionMask().length);
                    if (e.length() == max) truncated++;
                }
                assertTrue(truncated > 0, "some reviews are longer than " + max);
            }
        }
    }
}
