package io.lorafleet.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.WritableByteChannel;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes tensors in the safetensors format, in the given order, contiguous; the JSON header is padded with
 * spaces to a multiple of 8 bytes so that the data section starts aligned (as the reference writer does).
 */
public final class SafetensorsWriter {
    private static final ObjectMapper JSON = new ObjectMapper();

    private SafetensorsWriter() { }

    public static void write(WritableByteChannel out, Map<String, INDArray> tensors, Map<String, String> metadata) throws IOException {
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) throw new IOException("writing safetensors needs a little-endian machine");
        Map<String, Object> header = new LinkedHashMap<>();
        if (!metadata.isEmpty()) header.put(SafetensorsFormat.METADATA_KEY, metadata);
        long offset = 0;
        for (Map.Entry<String, INDArray> e : tensors.entrySet()) {
            if (e.getKey().equals(SafetensorsFormat.METADATA_KEY)) throw new IllegalArgumentException("a tensor cannot be named " + e.getKey());
            INDArray t = e.getValue();
            String dtype = SafetensorsFormat.dtypeOf(t.dataType());
            long bytes = t.length() * SafetensorsFormat.elementSize(dtype);
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("dtype", dtype);
            entry.put("shape", t.shape());
            entry.put("data_offsets", List.of(offset, offset + bytes));
            header.put(e.getKey(), entry);
            offset += bytes;
        }
        byte[] json = JSON.writeValueAsBytes(header);
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) head.put((byte) ' ');
        head.flip();
        writeFully(out, head);
        for (INDArray t : tensors.values()) {
            if (t.length() == 0) continue;
            INDArray c = t.ordering() == 'c' && !t.isView() ? t : t.dup('c');
            ByteBuffer data = c.data().asNio().duplicate().order(ByteOrder.LITTLE_ENDIAN);
            data.position(0).limit(Math.toIntExact(c.length() * c.dataType().width()));
            writeFully(out, data);
            java.lang.ref.Reference.reachabilityFence(c); // the NIO view does not keep the (possibly fresh) copy alive
        }
    }

    /** Convenience for metadata-free files. */
    public static byte[] toBytes(Map<String, INDArray> tensors, Map<String, String> metadata) throws IOException {
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        write(java.nio.channels.Channels.newChannel(bytes), tensors, metadata);
        return bytes.toByteArray();
    }

    private static void writeFully(WritableByteChannel out, ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) out.write(buffer);
    }
}
