package ai.batchtopk.extract;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Reads and edits an ONNX model's protobuf bytes without a protobuf library: enough of the wire format
 * (varints, length-delimited fields) to list the graph's node outputs and declared outputs, and to
 * declare an intermediate tensor as one more graph output so that ONNX Runtime returns it.
 *
 * <p>Field numbers (onnx.proto): ModelProto 7 = graph; GraphProto 1 = node, 12 = output; NodeProto 2 =
 * output (string); ValueInfoProto 1 = name, 2 = type; TypeProto 1 = tensor_type; TypeProto.Tensor 1 =
 * elem_type (1 = FLOAT).
 *
 * <p>The edit keeps every other byte as it is: the model's fields other than the graph are copied
 * verbatim, and the graph's bytes are copied verbatim with the new output entries appended (a repeated
 * field's entries may appear anywhere; parsers keep them in order, so the new outputs come last).
 */
final class OnnxGraphEdit {
    static final int WIRE_VARINT = 0;
    private static final int WIRE_I64 = 1;
    static final int WIRE_LEN = 2;
    private static final int WIRE_I32 = 5;

    static final int MODEL_GRAPH = 7;
    static final int GRAPH_NODE = 1;
    static final int GRAPH_OUTPUT = 12;
    static final int NODE_OUTPUT = 2;
    static final int VALUE_INFO_NAME = 1;
    static final int VALUE_INFO_TYPE = 2;
    static final int TYPE_TENSOR = 1;
    static final int TENSOR_ELEM_TYPE = 1;
    static final int ELEM_FLOAT = 1;

    private OnnxGraphEdit() {}

    /** One field of a message: its number, wire type and where its bytes lie. */
    record Field(int number, int wireType, int start, int valueStart, int end) {}

    /** The names of the tensors the graph's nodes produce. */
    static Set<String> nodeOutputs(byte[] model) {
        Field graph = graphField(model);
        Set<String> names = new LinkedHashSet<>();
        for (Field node : fields(model, graph.valueStart(), graph.end())) {
            if (node.number() == GRAPH_NODE && node.wireType() == WIRE_LEN) {
                for (Field f : fields(model, node.valueStart(), node.end())) {
                    if (f.number() == NODE_OUTPUT && f.wireType() == WIRE_LEN) {
                        names.add(string(model, f));
                    }
                }
            }
        }
        return names;
    }

    /** The names of the graph's declared outputs, in order. */
    static List<String> graphOutputs(byte[] model) {
        Field graph = graphField(model);
        List<String> names = new ArrayList<>();
        for (Field f : fields(model, graph.valueStart(), graph.end())) {
            if (f.number() == GRAPH_OUTPUT && f.wireType() == WIRE_LEN) {
                for (Field g : fields(model, f.valueStart(), f.end())) {
                    if (g.number() == VALUE_INFO_NAME && g.wireType() == WIRE_LEN) {
                        names.add(string(model, g));
                    }
                }
            }
        }
        return names;
    }

    /**
     * The model with {@code names} added to the graph's outputs as float tensors (names already declared
     * are left alone).
     *
     * @throws IllegalArgumentException if no node of the graph produces one of the names
     */
    static byte[] addFloatOutputs(byte[] model, List<String> names) {
        Set<String> produced = nodeOutputs(model);
        List<String> declared = graphOutputs(model);
        ByteArrayOutputStream extra = new ByteArrayOutputStream();
        for (String name : names) {
            if (!produced.contains(name) && !declared.contains(name)) {
                throw new IllegalArgumentException("the model's graph has no tensor named " + name);
            }
            if (declared.contains(name)) {
                continue;
            }
            byte[] tensorType = lenField(TENSOR_ELEM_TYPE, null, ELEM_FLOAT);
            byte[] typeProto = lenField(TYPE_TENSOR, tensorType, 0);
            ByteArrayOutputStream valueInfo = new ByteArrayOutputStream();
            valueInfo.writeBytes(lenField(VALUE_INFO_NAME, name.getBytes(StandardCharsets.UTF_8), 0));
            valueInfo.writeBytes(lenField(VALUE_INFO_TYPE, typeProto, 0));
            extra.writeBytes(lenField(GRAPH_OUTPUT, valueInfo.toByteArray(), 0));
        }
        if (extra.size() == 0) {
            return model;
        }
        Field graph = graphField(model);
        int graphLength = graph.end() - graph.valueStart();
        ByteArrayOutputStream out = new ByteArrayOutputStream(model.length + extra.size() + 16);
        out.write(model, 0, graph.start());
        writeVarint(out, ((long) MODEL_GRAPH << 3) | WIRE_LEN);
        writeVarint(out, (long) graphLength + extra.size());
        out.write(model, graph.valueStart(), graphLength);
        out.writeBytes(extra.toByteArray());
        out.write(model, graph.end(), model.length - graph.end());
        return out.toByteArray();
    }

    /**
     * A length-delimited field holding {@code value}, or, when {@code value} is null, a varint field
     * holding {@code varint}.
     */
    static byte[] lenField(int number, byte[] value, long varint) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        if (value == null) {
            writeVarint(out, ((long) number << 3) | WIRE_VARINT);
            writeVarint(out, varint);
        } else {
            writeVarint(out, ((long) number << 3) | WIRE_LEN);
            writeVarint(out, value.length);
            out.writeBytes(value);
        }
        return out.toByteArray();
    }

    static Field graphField(byte[] model) {
        Field graph = null;
        for (Field f : fields(model, 0, model.length)) {
            if (f.number() == MODEL_GRAPH && f.wireType() == WIRE_LEN) {
                if (graph != null) {
                    throw new IllegalArgumentException("the ONNX model has more than one graph field");
                }
                graph = f;
            }
        }
        if (graph == null) {
            throw new IllegalArgumentException("the ONNX model has no graph");
        }
        return graph;
    }

    /** The fields of the message in {@code bytes[from, to)}. */
    static List<Field> fields(byte[] bytes, int from, int to) {
        List<Field> fields = new ArrayList<>();
        int[] pos = {from};
        while (pos[0] < to) {
            int start = pos[0];
            long key = readVarint(bytes, pos, to);
            int number = (int) (key >>> 3);
            int wireType = (int) (key & 7);
            int valueStart;
            switch (wireType) {
                case WIRE_VARINT -> {
                    valueStart = pos[0];
                    readVarint(bytes, pos, to);
                }
                case WIRE_I64 -> {
                    valueStart = pos[0];
                    pos[0] += 8;
                }
                case WIRE_I32 -> {
                    valueStart = pos[0];
                    pos[0] += 4;
                }
                case WIRE_LEN -> {
                    long length = readVarint(bytes, pos, to);
                    valueStart = pos[0];
                    if (length < 0 || length > to - valueStart) {
                        throw malformed(start);
                    }
                    pos[0] += (int) length;
                }
                default -> throw malformed(start);
            }
            if (pos[0] > to || number == 0) {
                throw malformed(start);
            }
            fields.add(new Field(number, wireType, start, valueStart, pos[0]));
        }
        return fields;
    }

    private static long readVarint(byte[] bytes, int[] pos, int to) {
        long value = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos[0] >= to) {
                throw malformed(pos[0]);
            }
            byte b = bytes[pos[0]++];
            value |= (long) (b & 0x7f) << shift;
            if ((b & 0x80) == 0) {
                return value;
            }
        }
        throw malformed(pos[0]);
    }

    static void writeVarint(ByteArrayOutputStream out, long value) {
        while ((value & ~0x7fL) != 0) {
            out.write((int) ((value & 0x7f) | 0x80));
            value >>>= 7;
        }
        out.write((int) value);
    }

    static String string(byte[] bytes, Field f) {
        return new String(bytes, f.valueStart(), f.end() - f.valueStart(), StandardCharsets.UTF_8);
    }

    private static IllegalArgumentException malformed(int offset) {
        return new IllegalArgumentException("malformed ONNX model (protobuf) at byte " + offset);
    }
}
