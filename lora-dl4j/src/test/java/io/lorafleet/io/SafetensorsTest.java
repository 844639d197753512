package io.lorafleet.io;

import static io.lorafleet.nn.ExactArrays.assertBitIdentical;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SafetensorsTest {
    @TempDir
    Path dir;

    private SafetensorsReader open(Path file) throws IOException {
        return SafetensorsReader.open(FileChannel.open(file), file.toString());
    }

    /** A file assembled byte by byte from the format rules, independent of our writer. */
    private Path handMade(String name, String headerJson, byte[] data) throws IOException {
        byte[] header = headerJson.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(header.length).put(header).put(data);
        Path file = dir.resolve(name);
        Files.write(file, b.array());
        return file;
    }

    /** Checks a file against the format rules alone: header length, JSON, contiguous data_offsets, file length. */
    static void validate(byte[] file) throws IOException {
        long n = ByteBuffer.wrap(file, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        JsonNode header = new ObjectMapper().readTree(new String(file, 8, (int) n, StandardCharsets.UTF_8));
        List<long[]> spans = new ArrayList<>();
        header.fields().forEachRemaining(f -> {
            if (!f.getKey().equals("__metadata__")) spans.add(new long[] {f.getValue().get("data_offsets").get(0).asLong(), f.getValue().get("data_offsets").get(1).asLong()});
        });
        spans.sort((x, y) -> Long.compare(x[0], y[0]));
        long end = 0;
        for (long[] s : spans) {
            assertEquals(end, s[0], "data_offsets must be contiguous");
            end = s[1];
        }
        assertEquals(8 + n + end, file.length, "file length = 8 + N + last end");
        assertEquals(0, (8 + n) % 8, "data section aligned to 8 bytes");
    }

    @Test
    void roundTripKeepsEveryTensorAndTheMetadata() throws IOException {
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        tensors.put("base_model.model.encoder.layer.0.attention.self.query.lora_A.weight", Nd4j.rand(DataType.FLOAT, 8, 384));
        tensors.put("b", Nd4j.rand(DataType.DOUBLE, 3, 2, 5));
        tensors.put("ids", Nd4j.createFromArray(new long[] {1, -2, 3}));
        tensors.put("counts", Nd4j.createFromArray(new int[] {7, 8}));
        tensors.put("scalar", Nd4j.scalar(DataType.FLOAT, 2.5f));
        tensors.put("empty", Nd4j.create(DataType.FLOAT, 0, 4));
        tensors.put("view", Nd4j.rand(DataType.FLOAT, 6, 6).get(org.nd4j.linalg.indexing.NDArrayIndex.interval(1, 3), org.nd4j.linalg.indexing.NDArrayIndex.all()));
        byte[] bytes = SafetensorsWriter.toBytes(tensors, Map.of("format", "pt"));
        validate(bytes);
        Path file = dir.resolve("rt.safetensors");
        Files.write(file, bytes);
        try (SafetensorsReader reader = open(file)) {
            assertEquals(Map.of("format", "pt"), reader.metadata());
            assertEquals(new ArrayList<>(tensors.keySet()), new ArrayList<>(reader.tensors().keySet()));
            for (Map.Entry<String, INDArray> e : tensors.entrySet()) {
                INDArray back = reader.read(e.getKey());
                assertArrayEquals(e.getValue().shape(), back.shape(), e.getKey());
                assertEquals(e.getValue().dataType(), back.dataType(), e.getKey());
                assertBitIdentical(e.getValue(), back, e.getKey());
            }
        }
    }

    @Test
    void halfPrecisionWidensExactly() throws IOException {
        short[] f16 = {0x3C00, (short) 0xC000, 0x3800, 0x7BFF, 0x0001, 0x7C00}; // 1, -2, 0.5, 65504, 2^-24, +inf
        short[] bf16 = {0x3F80, (short) 0xC000, 0x4049};                          // 1, -2, 3.140625
        ByteBuffer data = ByteBuffer.allocate(18).order(ByteOrder.LITTLE_ENDIAN);
        for (short s : f16) data.putShort(s);
        for (short s : bf16) data.putShort(s);
        Path file = handMade("half.safetensors",
                "{\"h\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,12]},\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[12,18]}}",
                data.array());
        try (SafetensorsReader reader = open(file)) {
            assertArrayEquals(new float[] {1f, -2f, 0.5f, 65504f, 0x1p-24f, Float.POSITIVE_INFINITY}, reader.read("h").data().asFloat());
            assertArrayEquals(new long[] {2, 3}, reader.read("h").shape());
            assertArrayEquals(new float[] {1f, -2f, 3.140625f}, reader.read("b").data().asFloat());
        }
    }

    private void assertRejected(String name, String headerJson, byte[] data, String expected) throws IOException {
        Path file = handMade(name, headerJson, data);
        IOException e = assertThrows(IOException.class, () -> open(file).close());
        assertTrue(e.getMessage().contains(file.toString()), "error names the file: " + e.getMessage());
        assertTrue(e.getMessage().contains(expected), "'" + expected + "' in: " + e.getMessage());
    }

    @Test
    void badFilesAreRejectedWithTheFileNamed() throws IOException {
        byte[] eight = new byte[8];
        String one = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        assertRejected("truncated.safetensors", one, new byte[5], "runs past the end of the file");
        assertRejected("trailing.safetensors", one, new byte[12], "bytes after the last tensor");
        assertRejected("json.safetensors", "{\"a\": {\"dtype\": \"F32\", ", eight, "not valid JSON");
        assertRejected("dtype.safetensors", "{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", eight, "unknown dtype Q4");
        assertRejected("mismatch.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", eight, "data_offsets span 8 bytes");
        assertRejected("overlap.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", eight, "overlaps");
        assertRejected("gap.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", eight, "gap of 4 bytes");
        Path longHeader = dir.resolve("long-header.safetensors");
        Files.write(longHeader, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1000).array());
        IOException e = assertThrows(IOException.class, () -> open(longHeader).close());
        assertTrue(e.getMessage().contains(longHeader.toString()) && e.getMessage().contains("runs past the end"), e.getMessage());
        Path huge = dir.resolve("huge-header.safetensors");
        Files.write(huge, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(200_000_000L).array());
        e = assertThrows(IOException.class, () -> open(huge).close());
        assertTrue(e.getMessage().contains("100 MB"), e.getMessage());
    }

    @Test
    void largeTensorsAreReadInPieces() throws IOException {
        INDArray big = Nd4j.rand(DataType.FLOAT, 1024, 1100); // 4.5 MB, several chunks when widened
        INDArray half = big.castTo(DataType.HALF);
        Path file = dir.resolve("big.safetensors");
        try (FileChannel out = FileChannel.open(file, java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.WRITE)) {
            SafetensorsWriter.write(out, Map.of("w", big, "h", half), Map.of());
        }
        validate(Files.readAllBytes(file));
        try (SafetensorsReader reader = open(file)) {
            assertBitIdentical(big, reader.read("w"), "w");
            assertBitIdentical(half.castTo(DataType.FLOAT), reader.read("h"), "F16 widened element for element");
            assertEquals(DataType.FLOAT, reader.read("h").dataType());
        }
    }
}
