package io.lorafleet.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * Reads the protobuf wire format (varints, fixed 32/64-bit and length-delimited fields) field by field
 * from a buffer. Enough to walk an ONNX model without generated classes; length-delimited fields come
 * back as slices of the same buffer, so a large tensor is never copied.
 */
final class ProtobufReader {
    static final int VARINT = 0, FIXED64 = 1, LENGTH_DELIMITED = 2, FIXED32 = 5;

    private final ByteBuffer buffer;
    private final String source;
    private int field;
    private int wireType;

    ProtobufReader(ByteBuffer buffer, String source) {
        this.buffer = buffer.slice().order(ByteOrder.LITTLE_ENDIAN);
        this.source = source;
    }

    /** Advances to the next field; false at the end of the message. */
    boolean next() throws IOException {
        if (!buffer.hasRemaining()) return false;
        long key = varint();
        field = (int) (key >>> 3);
        wireType = (int) (key & 7);
        return true;
    }

    boolean hasRemaining() { return buffer.hasRemaining(); }

    int field() { return field; }

    int wireType() { return wireType; }

    long varint() throws IOException {
        long result = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (!buffer.hasRemaining()) throw new IOException(source + ": truncated varint");
            byte b = buffer.get();
            result |= (long) (b & 0x7F) << shift;
            if ((b & 0x80) == 0) return result;
        }
        throw new IOException(source + ": malformed varint");
    }

    /** A repeated varint field's value(s) into {@code out}: packed (one length-delimited run) or one at a time. */
    void repeatedVarint(java.util.List<Long> out) throws IOException {
        if (wireType != LENGTH_DELIMITED) {
            out.add(varint());
            return;
        }
        ProtobufReader packed = new ProtobufReader(bytes(), source);
        while (packed.hasRemaining()) out.add(packed.varint());
    }

    ByteBuffer bytes() throws IOException {
        long length = varint();
        if (length < 0 || length > buffer.remaining()) throw new IOException(source + ": field " + field + " runs past the end of its message");
        ByteBuffer slice = buffer.slice().order(ByteOrder.LITTLE_ENDIAN);
        slice.limit((int) length);
        buffer.position(buffer.position() + (int) length);
        return slice;
    }

    String string() throws IOException {
        ByteBuffer b = bytes();
        byte[] a = new byte[b.remaining()];
        b.get(a);
        return new String(a, StandardCharsets.UTF_8);
    }

    ProtobufReader message() throws IOException {
        return new ProtobufReader(bytes(), source);
    }

    void skip() throws IOException {
        switch (wireType) {
            case VARINT -> varint();
            case FIXED64 -> buffer.position(buffer.position() + 8);
            case LENGTH_DELIMITED -> bytes();
            case FIXED32 -> buffer.position(buffer.position() + 4);
            default -> throw new IOException(source + ": unsupported protobuf wire type " + wireType + " (field " + field + ")");
        }
    }
}
