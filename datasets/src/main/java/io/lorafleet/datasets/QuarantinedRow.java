package io.lorafleet.datasets;

/**
 * An input row kept aside with the reason: nothing is dropped silently. {@code adapterId} is null when unknown;
 * {@code value} is the offending label or split value, when that is the reason.
 */
public record QuarantinedRow(int task, String adapterId, String source, long line, String reason, String detail, String value, String raw)
        implements java.io.Serializable { }
