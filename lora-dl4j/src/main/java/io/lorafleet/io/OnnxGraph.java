package io.lorafleet.io;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The parts of an ONNX model (onnx.proto: ModelProto → GraphProto) that an import needs: the graph's
 * nodes (op type, input and output names) and its float initializers as ND4J arrays.
 */
public final class OnnxGraph {
    /**
     * A graph node: its operator, the names of the values it reads and writes, and for a Constant node
     * its value (float32 or int64), else null.
     */
    public record Node(String opType, List<String> inputs, List<String> outputs, INDArray constant) { }

    // onnx.proto field numbers
    private static final int MODEL_GRAPH = 7;
    private static final int GRAPH_NODE = 1, GRAPH_INITIALIZER = 5;
    private static final int NODE_INPUT = 1, NODE_OUTPUT = 2, NODE_OP_TYPE = 4, NODE_ATTRIBUTE = 5;
    private static final int ATTRIBUTE_TENSOR = 5;
    private static final int TENSOR_DIMS = 1, TENSOR_DATA_TYPE = 2, TENSOR_FLOAT_DATA = 4, TENSOR_INT32_DATA = 5, TENSOR_INT64_DATA = 7, TENSOR_NAME = 8,
            TENSOR_RAW_DATA = 9, TENSOR_DATA_LOCATION = 14;
    private static final int ONNX_FLOAT = 1, ONNX_UINT8 = 2, ONNX_INT8 = 3, ONNX_INT64 = 7;

    private final List<Node> nodes;
    private final Map<String, INDArray> initializers;

    private OnnxGraph(List<Node> nodes, Map<String, INDArray> initializers) {
        this.nodes = nodes;
        this.initializers = initializers;
    }

    /** Parses a serialized ModelProto; float initializers become float32 arrays, other types are skipped. */
    public static OnnxGraph parse(ByteBuffer model, String source) throws IOException {
        ProtobufReader m = new ProtobufReader(model, source);
        while (m.next()) {
            if (m.field() == MODEL_GRAPH && m.wireType() == ProtobufReader.LENGTH_DELIMITED) return graph(m.message(), source);
            m.skip();
        }
        throw new IOException(source + ": not an ONNX model (no graph)");
    }

    private static OnnxGraph graph(ProtobufReader g, String source) throws IOException {
        List<Node> nodes = new ArrayList<>();
        Map<String, INDArray> initializers = new LinkedHashMap<>();
        while (g.next()) {
            if (g.field() == GRAPH_NODE) {
                nodes.add(node(g.message(), source));
            } else if (g.field() == GRAPH_INITIALIZER) {
                Tensor t = tensor(g.message(), source);
                if (t != null && t.value().dataType() != DataType.LONG) initializers.put(t.name(), t.value());
            } else {
                g.skip();
            }
        }
        return new OnnxGraph(nodes, initializers);
    }

    private static Node node(ProtobufReader n, String source) throws IOException {
        List<String> inputs = new ArrayList<>(), outputs = new ArrayList<>();
        String op = "";
        INDArray constant = null;
        while (n.next()) {
            switch (n.field()) {
                case NODE_INPUT -> inputs.add(n.string());
                case NODE_OUTPUT -> outputs.add(n.string());
                case NODE_OP_TYPE -> op = n.string();
                case NODE_ATTRIBUTE -> {
                    ProtobufReader a = n.message();
                    while (a.next()) {
                        if (a.field() == ATTRIBUTE_TENSOR) {
                            Tensor t = tensor(a.message(), source);
                            if (t != null) constant = t.value();
                        } else {
                            a.skip();
                        }
                    }
                }
                default -> n.skip();
            }
        }
        return new Node(op, inputs, outputs, op.equals("Constant") ? constant : null);
    }

    private record Tensor(String name, INDArray value) { }

    /** A float32, int64 or 8-bit (a quantized export's weights and zero points) TensorProto as an ND4J array; null for other element types. */
    private static Tensor tensor(ProtobufReader t, String source) throws IOException {
        List<Long> dims = new ArrayList<>();
        long dataType = 0;
        String name = "";
        ByteBuffer raw = null;
        List<Float> floats = new ArrayList<>();
        List<Long> longs = new ArrayList<>();
        while (t.next()) {
            switch (t.field()) {
                case TENSOR_DIMS -> t.repeatedVarint(dims);
                case TENSOR_DATA_TYPE -> dataType = t.varint();
                case TENSOR_NAME -> name = t.string();
                case TENSOR_RAW_DATA -> raw = t.bytes().order(ByteOrder.LITTLE_ENDIAN);
                case TENSOR_FLOAT_DATA -> {
                    if (t.wireType() == ProtobufReader.LENGTH_DELIMITED) {
                        ByteBuffer b = t.bytes().order(ByteOrder.LITTLE_ENDIAN);
                        while (b.remaining() >= 4) floats.add(b.getFloat());
                    } else {
                        t.skip();
                    }
                }
                case TENSOR_INT64_DATA, TENSOR_INT32_DATA -> t.repeatedVarint(longs); // int32_data holds 8-bit values too
                case TENSOR_DATA_LOCATION -> {
                    if (t.varint() != 0) throw new IOException(source + ": tensor " + name + " keeps its data in an external file, which import does not read");
                }
                default -> t.skip();
            }
        }
        if (dataType != ONNX_FLOAT && dataType != ONNX_INT64 && dataType != ONNX_UINT8 && dataType != ONNX_INT8) return null;
        long[] shape = dims.stream().mapToLong(Long::longValue).toArray();
        long count = 1;
        for (long d : shape) count *= d;
        if (dataType == ONNX_UINT8 || dataType == ONNX_INT8) {
            byte[] bytes = new byte[Math.toIntExact(count)];
            if (raw != null && raw.remaining() == count) raw.get(bytes);
            else if (raw == null && longs.size() == count) for (int i = 0; i < count; i++) bytes[i] = (byte) (long) longs.get(i);
            else throw new IOException(source + ": 8-bit tensor " + name + " does not hold " + count + " values");
            INDArray array = Nd4j.create(dataType == ONNX_UINT8 ? DataType.UBYTE : DataType.BYTE, shape, 'c');
            array.data().asNio().put(bytes);
            return new Tensor(name, array);
        }
        boolean isFloat = dataType == ONNX_FLOAT;
        INDArray array = Nd4j.create(isFloat ? DataType.FLOAT : DataType.LONG, shape, 'c');
        int width = isFloat ? 4 : 8;
        if (raw != null) {
            if (raw.remaining() != count * width) throw new IOException(source + ": tensor " + name + " has " + raw.remaining() + " bytes for " + count + " elements");
            ByteBuffer target = array.data().asNio().order(ByteOrder.nativeOrder());
            for (int i = 0; i < count; i++) {
                if (isFloat) target.putFloat(i * 4, raw.getFloat(i * 4));
                else target.putLong(i * 8, raw.getLong(i * 8));
            }
        } else {
            int have = isFloat ? floats.size() : longs.size();
            if (have != count) throw new IOException(source + ": tensor " + name + " has " + have + " elements, its shape needs " + count);
            for (int i = 0; i < count; i++) array.putScalar(i, isFloat ? floats.get(i) : longs.get(i));
        }
        return new Tensor(name, array);
    }

    public List<Node> nodes() { return nodes; }

    public Map<String, INDArray> initializers() { return initializers; }
}
