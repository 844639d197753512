package io.lorafleet.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a safetensors file from a seekable channel (a local file, or an HDFS/S3 stream wrapped at the
 * edge). The header is validated whole before any tensor is read; each tensor is then read straight
 * into ND4J's off-heap memory, so a large file never passes through the Java heap. F16 and BF16 widen
 * to float32.
 */
public final class SafetensorsReader implements Closeable {
    /** One header entry; offsets are relative to the start of the data section. */
    public record TensorInfo(String name, String dtype, long[] shape, long begin, long end) {
        public long elements() {
            long n = 1;
            for (long s : shape) n *= s;
            return n;
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int CHUNK = 1 << 20;

    private final SeekableByteChannel channel;
    private final String source;
    private final long dataStart;
    private final Map<String, TensorInfo> tensors;
    private final Map<String, String> metadata;

    private SafetensorsReader(SeekableByteChannel channel, String source, long dataStart, Map<String, TensorInfo> tensors,
                              Map<String, String> metadata) {
        this.channel = channel;
        this.source = source;
        this.dataStart = dataStart;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /** Parses and validates the header; {@code source} names the file in every error. */
    public static SafetensorsReader open(SeekableByteChannel channel, String source) throws IOException {
        long size = channel.size();
        if (size < 8) throw bad(source, "file is " + size + " bytes, shorter than the 8-byte header length");
        ByteBuffer lengthBytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(channel, lengthBytes, 0, source);
        long headerLength = lengthBytes.getLong(0);
        if (headerLength < 0 || headerLength > SafetensorsFormat.MAX_HEADER_BYTES) {
            throw bad(source, "header length " + Long.toUnsignedString(headerLength) + " exceeds the 100 MB limit");
        }
        if (8 + headerLength > size) {
            throw bad(source, "header length " + headerLength + " runs past the end of the file (" + size + " bytes)");
        }
        ByteBuffer headerBytes = ByteBuffer.allocate((int) headerLength);
        readFully(channel, headerBytes, 8, source);
        JsonNode header;
        try {
            header = JSON.readTree(new String(headerBytes.array(), StandardCharsets.UTF_8));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw bad(source, "header is not valid JSON: " + e.getOriginalMessage());
        }
        if (header == null || !header.isObject()) throw bad(source, "header is not a JSON object");
        long dataStart = 8 + headerLength;
        Map<String, String> metadata = new LinkedHashMap<>();
        List<TensorInfo> entries = new ArrayList<>();
        for (var it = header.fields(); it.hasNext(); ) {
            var field = it.next();
            if (field.getKey().equals(SafetensorsFormat.METADATA_KEY)) {
                if (!field.getValue().isObject()) throw bad(source, "__metadata__ must be an object of strings");
                field.getValue().fields().forEachRemaining(m -> {
                    if (!m.getValue().isTextual()) throw new IllegalArgumentException(source + ": __metadata__." + m.getKey() + " is not a string");
                    metadata.put(m.getKey(), m.getValue().asText());
                });
                continue;
            }
            entries.add(entry(source, field.getKey(), field.getValue()));
        }
        checkLayout(source, entries, size - dataStart);
        Map<String, TensorInfo> byName = new LinkedHashMap<>();
        for (TensorInfo t : entries) byName.put(t.name(), t);
        return new SafetensorsReader(channel, source, dataStart, byName, metadata);
    }

    private static TensorInfo entry(String source, String name, JsonNode node) throws IOException {
        String where = "tensor '" + name + "'";
        if (!node.isObject()) throw bad(source, where + " is not an object");
        JsonNode dtype = node.get("dtype"), shape = node.get("shape"), offsets = node.get("data_offsets");
        if (dtype == null || !dtype.isTextual()) throw bad(source, where + " has no dtype");
        int elementSize = SafetensorsFormat.elementSize(dtype.asText());
        if (elementSize < 0) throw bad(source, where + " has unknown dtype " + dtype.asText());
        if (shape == null || !shape.isArray()) throw bad(source, where + " has no shape");
        long[] dims = new long[shape.size()];
        long elements = 1;
        for (int i = 0; i < dims.length; i++) {
            if (!shape.get(i).canConvertToLong() || shape.get(i).asLong() < 0) throw bad(source, where + " has an invalid shape " + shape);
            dims[i] = shape.get(i).asLong();
            elements = Math.multiplyExact(elements, dims[i]);
        }
        if (offsets == null || !offsets.isArray() || offsets.size() != 2 || !offsets.get(0).canConvertToLong() || !offsets.get(1).canConvertToLong()) {
            throw bad(source, where + " has no valid data_offsets");
        }
        long begin = offsets.get(0).asLong(), end = offsets.get(1).asLong();
        if (begin < 0 || end < begin) throw bad(source, where + " has data_offsets [" + begin + ", " + end + "]");
        if (end - begin != elements * elementSize) {
            throw bad(source, where + " has shape " + shape + " of " + dtype.asText() + " (" + elements * elementSize
                    + " bytes) but data_offsets span " + (end - begin) + " bytes");
        }
        return new TensorInfo(name, dtype.asText(), dims, begin, end);
    }

    /** Tensors must tile the data section exactly: no gap, no overlap, nothing past the end or after the last. */
    private static void checkLayout(String source, List<TensorInfo> entries, long dataBytes) throws IOException {
        List<TensorInfo> sorted = new ArrayList<>(entries);
        sorted.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
        long expected = 0;
        for (TensorInfo t : sorted) {
            if (t.begin() < expected) throw bad(source, "tensor '" + t.name() + "' overlaps the tensor before it (begins at " + t.begin() + ", previous ends at " + expected + ")");
            if (t.begin() > expected) throw bad(source, "gap of " + (t.begin() - expected) + " bytes before tensor '" + t.name() + "'");
            expected = t.end();
        }
        if (expected > dataBytes) throw bad(source, "tensor data runs past the end of the file: needs " + expected + " bytes, file has " + dataBytes + " (truncated?)");
        if (expected < dataBytes) throw bad(source, (dataBytes - expected) + " bytes after the last tensor");
    }

    public Map<String, TensorInfo> tensors() { return Collections.unmodifiableMap(tensors); }

    public Map<String, String> metadata() { return Collections.unmodifiableMap(metadata); }

    public String source() { return source; }

    /** The named tensor, read into a fresh C-order INDArray. */
    public INDArray read(String name) throws IOException {
        TensorInfo t = tensors.get(name);
        if (t == null) throw new IllegalArgumentException(source + ": no tensor named '" + name + "'");
        DataType type = SafetensorsFormat.readType(t.dtype());
        if (type == null) throw bad(source, "tensor '" + name + "' has dtype " + t.dtype() + ", which LoRAFleet does not load");
        INDArray array = Nd4j.create(type, t.shape().length == 0 ? new long[0] : t.shape(), 'c');
        if (t.elements() == 0) return array;
        ByteBuffer target = array.data().asNio().order(ByteOrder.nativeOrder());
        long position = dataStart + t.begin();
        boolean sameWidth = SafetensorsFormat.elementSize(t.dtype()) == type.width();
        if (sameWidth && ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN) {
            ByteBuffer slice = target.duplicate();
            slice.limit((int) (t.end() - t.begin()));
            readFully(channel, slice, position, source);
            return array;
        }
        widen(t, position, target);
        return array;
    }

    /** Reads in chunks and converts element by element (half floats, or a big-endian machine). */
    private void widen(TensorInfo t, long position, ByteBuffer target) throws IOException {
        int width = SafetensorsFormat.elementSize(t.dtype());
        ByteBuffer chunk = ByteBuffer.allocate(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
        long remaining = t.end() - t.begin();
        int out = 0;
        while (remaining > 0) {
            chunk.clear();
            chunk.limit((int) Math.min(CHUNK, remaining));
            readFully(channel, chunk, position, source);
            chunk.flip();
            position += chunk.limit();
            remaining -= chunk.limit();
            while (chunk.remaining() >= width) {
                switch (t.dtype()) {
                    case "F16" -> target.putFloat(out, SafetensorsFormat.halfToFloat(chunk.getShort()));
                    case "BF16" -> target.putFloat(out, SafetensorsFormat.bfloat16ToFloat(chunk.getShort()));
                    case "F32" -> target.putFloat(out, chunk.getFloat());
                    case "F64" -> target.putDouble(out, chunk.getDouble());
                    case "I64" -> target.putLong(out, chunk.getLong());
                    case "I32" -> target.putInt(out, chunk.getInt());
                    case "I8" -> target.put(out, chunk.get());
                    default -> throw bad(source, "cannot convert dtype " + t.dtype());
                }
                out += t.dtype().equals("F16") || t.dtype().equals("BF16") ? Float.BYTES : width;
            }
        }
    }

    /** Every tensor, in file order. */
    public Map<String, INDArray> readAll() throws IOException {
        Map<String, INDArray> out = new LinkedHashMap<>();
        for (String name : tensors.keySet()) out.put(name, read(name));
        return out;
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }

    private static void readFully(SeekableByteChannel channel, ByteBuffer buffer, long position, String source) throws IOException {
        channel.position(position);
        while (buffer.hasRemaining()) {
            if (channel.read(buffer) < 0) throw bad(source, "unexpected end of file at byte " + channel.position());
        }
    }

    private static IOException bad(String source, String what) {
        return new SafetensorsException(source + ": " + what);
    }

    /** A file that does not follow the safetensors format; the message names the file. */
    public static final class SafetensorsException extends IOException {
        public SafetensorsException(String message) {
            super(message);
        }
    }
}
