package io.lorafleet.datasets;

/**
 * One input row as read, before validation — or, when {@code problem} is set, why it could not be read.
 *
 * @param line     1-based line of a text file (the first line of a multi-line CSV record), or 1-based row of
 *                 a Parquet file or of a JSON file's array (1 for a file holding one object)
 * @param text     the text, or an instruction row's prompt
 * @param response an instruction row's response (null otherwise)
 * @param messages a conversation's messages, as JSON (null otherwise)
 * @param raw      the row as found (cut to {@link #RAW_LIMIT} characters), kept for the quarantine
 */
public record SourceRecord(String source, long line, String adapterId, String text, String textPair, String label, String split,
                           String response, String messages, BadRow problem, String detail, String raw) {
    public static final int RAW_LIMIT = 2000;

    static SourceRecord bad(String source, long line, BadRow problem, String detail, String raw) {
        return new SourceRecord(source, line, null, null, null, null, null, null, null, problem, detail, clip(raw));
    }

    static String clip(String raw) {
        return raw == null || raw.length() <= RAW_LIMIT ? raw : raw.substring(0, RAW_LIMIT);
    }
}
