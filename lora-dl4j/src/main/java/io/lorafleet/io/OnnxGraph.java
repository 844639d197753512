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
    /** A graph node: its operator and the names of the values it reads and writes. */
    public record Node(String opType, List<String> inputs, List<String> outputs) { }

    // onnx.proto field numbers
    private static final int MODEL_GRAPH = 7;
    private static final int GRAPH_NODE = 1, GRAPH_INITIALIZER = 5;
    private static final int NODE_INPUT = 1, NODE_OUTPUT = 2, NODE_OP_TYPE = 4;
    private static final int TENSOR_DIMS = 1, TENSOR_DATA_TYPE = 2, TENSOR_FLOAT_DATA = 4, TENSOR_NAME = 8, TENSOR_RAW_DATA = 9,
            TENSOR_DATA_LOCATION = 14;
    private static final int ONNX_FLOAT = 1;

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
                nodes.add(node(g.message()));
            } else if (g.field() == GRAPH_INITIALIZER) {
                tensor(g.message(), source, initializers);
            } else {
                g.skip();
            }
        }
        return new OnnxGraph(nodes, initializers);
    }

    private static Node node(ProtobufReader n) throws IOException {
        List<String> inputs = new ArrayList<>(), outputs = new ArrayList<>();
        String op = "";
        while (n.next()) {
            switch (n.field()) {
                case NODE_INPUT -> inputs.add(n.string());
                case NODE_OUTPUT -> outputs.add(n.string());
                case NODE_OP_TYPE -> op = n.string();
                default -> n.skip();
            }
        }
        return new Node(op, inputs, outputs);
    }

    private static void tensor(ProtobufReader t, String source, Map<String, INDArray> out) throws IOException {
        List<Long> dims = new ArrayList<>();
        long dataType = 0;
        String name = null;
        ByteBuffer raw = null;
        List<Float> floats = new ArrayList<>();
        while (t.next()) {
            switch (t.field()) {
                case TENSOR_DIMS -> {
                    if (t.wireType() == ProtobufReader.LENGTH_DELIMITED) {
                        ProtobufReader packed = new ProtobufReader(t.bytes(), source);
                        while (packed.hasRemaining()) dims.add(packed.varint());
                    } else {
                        dims.add(t.varint());
                    }
                }
                case TENSOR_DATA_TYPE -> dataType = t.varint();
                case TENSOR_NAME -> name = t.string();
                case TENSOR_RAW_DATA -> raw = t.bytes();
                case TENSOR_FLOAT_DATA -> {
                    ByteBuffer b = t.bytes().order(ByteOrder.LITTLE_ENDIAN);
                    while (b.remaining() >= 4) floats.add(b.getFloat());
                }
                case TENSOR_DATA_LOCATION -> {
                    if (t.varint() != 0) throw new IOException(source + ": initializer " + name + " keeps its data in an external file, which import does not read");
                }
                default -> t.skip();
            }
        }
        if (dataType != ONNX_FLOAT || name == null) return;
        long[] shape = dims.stream().mapToLong(Long::longValue).toArray();
        long count = 1;
        for (long d : shape) count *= d;
        INDArray array = Nd4j.create(DataType.FLOAT, shape, 'c');
        if (raw != null) {
            if (raw.remaining() != count * 4) throw new IOException(source + ": initializer " + name + " has " + raw.remaining() + " bytes for " + count + " floats");
            ByteBuffer target = array.data().asNio().order(ByteOrder.nativeOrder());
            raw.order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < count; i++) target.putFloat(i * 4, raw.getFloat(i * 4));
        } else {
            if (floats.size() != count) throw new IOException(source + ": initializer " + name + " has " + floats.size() + " floats, shape needs " + count);
            for (int i = 0; i < count; i++) array.putScalar(i, floats.get(i));
        }
        out.put(name, array);
    }

    public List<Node> nodes() { return nodes; }

    public Map<String, INDArray> initializers() { return initializers; }
}
