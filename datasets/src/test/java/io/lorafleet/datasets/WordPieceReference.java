package io.lorafleet.datasets;

import java.text.Normalizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * An independent BERT tokenizer written from the algorithm of Devlin et al.'s BasicTokenizer and
 * WordpieceTokenizer (uncased): clean text, space out CJK ideographs, lowercase, strip accents, split on
 * whitespace and punctuation, then greedy longest-match WordPiece with "##" continuations. Only for tests.
 */
final class WordPieceReference {
    private static final int MAX_CHARS_PER_WORD = 100;
    private final Map<String, Integer> vocab;
    private final int cls, sep, unk;

    WordPieceReference(Map<String, Integer> vocab) {
        this.vocab = vocab;
        this.cls = vocab.get("[CLS]");
        this.sep = vocab.get("[SEP]");
        this.unk = vocab.get("[UNK]");
    }

    int[] encode(String text, int maxLength) {
        List<Integer> ids = new ArrayList<>();
        for (String word : basicTokens(text)) wordPieces(word, ids);
        int body = Math.min(ids.size(), maxLength - 2);
        int[] out = new int[body + 2];
        out[0] = cls;
        for (int i = 0; i < body; i++) out[i + 1] = ids.get(i);
        out[body + 1] = sep;
        return out;
    }

    private List<String> basicTokens(String text) {
        StringBuilder cleaned = new StringBuilder();
        text.codePoints().forEach(c -> {
            if (c == 0 || c == 0xFFFD || isControl(c)) return;
            if (isWhitespace(c)) cleaned.append(' ');
            else if (isCjk(c)) cleaned.append(' ').appendCodePoint(c).append(' ');
            else cleaned.appendCodePoint(c);
        });
        List<String> tokens = new ArrayList<>();
        for (String word : cleaned.toString().trim().split(" +")) {
            if (word.isEmpty()) continue;
            String lower = Normalizer.normalize(word.toLowerCase(Locale.ROOT), Normalizer.Form.NFD);
            StringBuilder current = new StringBuilder();
            lower.codePoints().forEach(c -> {
                if (Character.getType(c) == Character.NON_SPACING_MARK) return;
                if (isPunctuation(c)) {
                    if (!current.isEmpty()) tokens.add(current.toString());
                    current.setLength(0);
                    tokens.add(new String(Character.toChars(c)));
                } else {
                    current.appendCodePoint(c);
                }
            });
            if (!current.isEmpty()) tokens.add(current.toString());
        }
        return tokens;
    }

    private void wordPieces(String word, List<Integer> out) {
        if (word.codePointCount(0, word.length()) > MAX_CHARS_PER_WORD) {
            out.add(unk);
            return;
        }
        List<Integer> pieces = new ArrayList<>();
        int start = 0;
        while (start < word.length()) {
            int end = word.length();
            Integer found = null;
            while (start < end) {
                String piece = (start > 0 ? "##" : "") + word.substring(start, end);
                found = vocab.get(piece);
                if (found != null) break;
                end = Character.isLowSurrogate(word.charAt(end - 1)) && end - 2 > start ? end - 2 : end - 1;
            }
            if (found == null) {
                out.add(unk);
                return;
            }
            pieces.add(found);
            start = end;
        }
        out.addAll(pieces);
    }

    private static boolean isWhitespace(int c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || Character.getType(c) == Character.SPACE_SEPARATOR;
    }

    private static boolean isControl(int c) {
        if (c == '\t' || c == '\n' || c == '\r') return false;
        int type = Character.getType(c);
        return type == Character.CONTROL || type == Character.FORMAT;
    }

    private static boolean isPunctuation(int c) {
        if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
        int t = Character.getType(c);
        return t == Character.CONNECTOR_PUNCTUATION || t == Character.DASH_PUNCTUATION || t == Character.START_PUNCTUATION
                || t == Character.END_PUNCTUATION || t == Character.INITIAL_QUOTE_PUNCTUATION || t == Character.FINAL_QUOTE_PUNCTUATION
                || t == Character.OTHER_PUNCTUATION;
    }

    private static boolean isCjk(int c) {
        return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF)
                || (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF)
                || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
    }
}
