package io.lorafleet.datasets;

/**
 * The part of a line-based file that one task reads: the lines that start at a byte offset in
 * [start, end), the first of them being line {@code firstLine} of the file. Lines crossing {@code end}
 * belong to this range; the next range skips them (Hadoop's LineRecordReader rule).
 */
public record ByteRange(long start, long end, long firstLine) implements java.io.Serializable {
    public static final ByteRange WHOLE = new ByteRange(0, Long.MAX_VALUE, 1);

    public boolean whole() {
        return start == 0 && end == Long.MAX_VALUE;
    }
}
