package io.lorafleet.datasets;

/** Why an input row was quarantined; {@link #code()} is how manifests count it. */
public enum BadRow {
    INVALID_UTF8, MALFORMED_JSON, NOT_AN_OBJECT, MALFORMED_CSV, WRONG_TYPE, MISSING_TEXT, EMPTY_TEXT, MISSING_LABEL, UNKNOWN_LABEL,
    BAD_ADAPTER_ID, UNKNOWN_SPLIT, NO_ROOM_FOR_RESPONSE, BAD_MESSAGES, CHAT_TEMPLATE_REFUSED;

    public String code() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
