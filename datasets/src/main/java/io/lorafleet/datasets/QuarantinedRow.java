package io.lorafleet.datasets;

/** An input row kept aside with the reason: nothing is dropped silently. {@code adapterId} is null when unknown. */
public record QuarantinedRow(int task, String adapterId, String source, long line, String reason, String detail, String raw) implements java.io.Serializable { }
