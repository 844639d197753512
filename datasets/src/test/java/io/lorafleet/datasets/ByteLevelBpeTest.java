package io.lorafleet.datasets;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * GPT-2's tokenizer kind (byte-level BPE) through the same TextTokenizer: a tokenizer.json built here with
 * GPT-2's byte-to-unicode alphabet and three merges. Expected ids come from that alphabet and the merge
 * ranks, computed here: every UTF-8 byte has a token (no [UNK] ever), merges apply within a pre-token, and
 * no [CLS]/[SEP] is added.
 */
class ByteLevelBpeTest {
    /** GPT-2's bytes_to_unicode: printable bytes map to themselves, the others to 256 + n in byte order. */
    static String[] byteAlphabet() {
        String[] chars = new String[256];
        int next = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            chars[b] = new String(Character.toChars(printable ? b : 256 + next++));
        }
        return chars;
    }

    static byte[] tokenizerJson(String[] alphabet, List<String> merges) throws IOException {
        ObjectMapper m = new ObjectMapper();
        ObjectNode root = m.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        root.putArray("added_tokens");
        root.putNull("normalizer");
        ObjectNode pre = root.putObject("pre_tokenizer");
        pre.put("type", "ByteLevel").put("add_prefix_space", false).put("trim_offsets", true).put("use_regex", true);
        ObjectNode post = root.putObject("post_processor");
        post.put("type", "ByteLevel").put("add_prefix_space", true).put("trim_offsets", false).put("use_regex", true);
        ObjectNode decoder = root.putObject("decoder");
        decoder.put("type", "ByteLevel").put("add_prefix_space", true).put("trim_offsets", true).put("use_regex", true);
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE").putNull("dropout").putNull("unk_token").putNull("continuing_subword_prefix")
                .putNull("end_of_word_suffix").put("fuse_unk", false);
        ObjectNode vocab = model.putObject("vocab");
        Map<String, Integer> ids = vocabOf(alphabet, merges);
        ids.forEach(vocab::put);
        ArrayNode mergeList = model.putArray("merges");
        merges.forEach(mergeList::add);
        return m.writeValueAsBytes(root);
    }

    static Map<String, Integer> vocabOf(String[] alphabet, List<String> merges) {
        Map<String, Integer> ids = new LinkedHashMap<>();
        for (String c : alphabet) ids.put(c, ids.size());
        for (String merge : merges) ids.put(merge.replace(" ", ""), ids.size());
        return ids;
    }

    @Test
    void everyByteHasATokenAndMergesApplyWithinPreTokens() throws IOException {
        String[] alphabet = byteAlphabet();
        List<String> merges = List.of("t h", "th e", "Ġ the");
        Map<String, Integer> vocab = vocabOf(alphabet, merges);
        try (TextTokenizer t = TextTokenizer.fromJson(tokenizerJson(alphabet, merges), 64, "gpt2-style tokenizer.json")) {
            assertEquals(259, t.vocabSize());
            List<Integer> expected = new ArrayList<>();
            expected.add(vocab.get("the"));
            expected.add(vocab.get("Ġthe"));
            expected.add(vocab.get("Ġ"));
            for (byte b : "héllo".getBytes(StandardCharsets.UTF_8)) expected.add(vocab.get(alphabet[b & 0xFF]));
            for (byte b : " 🙂".getBytes(StandardCharsets.UTF_8)) expected.add(vocab.get(alphabet[b & 0xFF]));
            int[] ids = t.encode("the the héllo 🙂").ids();
            assertArrayEquals(expected.stream().mapToInt(Integer::intValue).toArray(), ids);
        }
    }

    @Test
    void truncatesWithoutSpecialTokens() throws IOException {
        String[] alphabet = byteAlphabet();
        try (TextTokenizer t = TextTokenizer.fromJson(tokenizerJson(alphabet, List.of()), 8, "gpt2-style tokenizer.json")) {
            int[] ids = t.encode("abcdefghijklmnop").ids();
            assertEquals(8, ids.length);
            assertEquals(List.of(alphabet).indexOf("a"), ids[0]);
            assertEquals(List.of(alphabet).indexOf("h"), ids[7]);
        }
    }
}
