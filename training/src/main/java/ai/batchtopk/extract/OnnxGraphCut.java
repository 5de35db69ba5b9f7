package ai.batchtopk.extract;

import ai.batchtopk.extract.OnnxGraphEdit.Field;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Cuts an ONNX model at an intermediate tensor: the tail of the graph, from that tensor to one output, as
 * a model of its own whose input is the tensor. ONNX Runtime runs the tail as a session fed with any value
 * of the tensor, so the rest of the model runs on a spliced activation exactly as it would on the clean
 * one.
 *
 * <p>The tail is what the output needs: walking back from the output, every node that produces a needed
 * tensor, stopping at the cut tensor. What else the output depends on stays: for a post-LN BERT cut at a
 * residual stream, the extended attention mask computed from {@code attention_mask}; cut at the MLP
 * activations, also the layer's attention branch and everything before it. The tail's graph inputs are
 * the cut tensor (a float {@code [batch, sequence, width]} input) and those of the model's inputs the tail
 * still reads; unused nodes, inputs, initializers, value infos and outputs are dropped, every kept field's
 * bytes are copied as they are, in their order (the nodes stay topologically sorted).
 *
 * <p>Field numbers (onnx.proto), besides {@link OnnxGraphEdit}'s: GraphProto 5 = initializer, 11 = input,
 * 13 = value_info, 15 = sparse_initializer; NodeProto 1 = input, 5 = attribute; AttributeProto 6 = g,
 * 11 = graphs; TensorProto 8 = name; SparseTensorProto 1 = values; TypeProto.Tensor 2 = shape;
 * TensorShapeProto 1 = dim; Dimension 1 = dim_value, 2 = dim_param.
 */
final class OnnxGraphCut {
    private static final int GRAPH_INITIALIZER = 5;
    private static final int GRAPH_INPUT = 11;
    private static final int GRAPH_VALUE_INFO = 13;
    private static final int GRAPH_SPARSE_INITIALIZER = 15;
    private static final int NODE_INPUT = 1;
    private static final int NODE_ATTRIBUTE = 5;
    private static final int ATTRIBUTE_GRAPH = 6;
    private static final int ATTRIBUTE_GRAPHS = 11;
    private static final int TENSOR_NAME = 8;
    private static final int SPARSE_VALUES = 1;
    private static final int TENSOR_SHAPE = 2;
    private static final int SHAPE_DIM = 1;
    private static final int DIM_VALUE = 1;
    private static final int DIM_PARAM = 2;

    private OnnxGraphCut() {}

    /** One node: its field in the graph, its input and output tensor names. */
    private record Node(Field field, List<String> inputs, List<String> outputs, boolean hasSubgraph) {}

    /**
     * The model from {@code cut} to {@code output}: a graph whose input {@code cut} (float, {@code [batch,
     * sequence, width]}) replaces the tensor of that name.
     *
     * @throws IllegalArgumentException if no node produces {@code cut}, if {@code output} is not a graph
     *     output or does not depend on {@code cut}, or if the tail would still compute {@code cut} itself
     */
    static byte[] tail(byte[] model, String cut, int width, String output) {
        Field graph = OnnxGraphEdit.graphField(model);
        List<Field> graphFields = OnnxGraphEdit.fields(model, graph.valueStart(), graph.end());
        Map<String, Node> producers = new HashMap<>();
        for (Field f : graphFields) {
            if (f.number() == OnnxGraphEdit.GRAPH_NODE && f.wireType() == OnnxGraphEdit.WIRE_LEN) {
                Node node = node(model, f);
                for (String name : node.outputs()) {
                    producers.put(name, node);
                }
            }
        }
        if (!producers.containsKey(cut)) {
            throw new IllegalArgumentException("the model's graph has no node producing " + cut);
        }
        if (!OnnxGraphEdit.graphOutputs(model).contains(output)) {
            throw new IllegalArgumentException("the model's graph has no output named " + output);
        }

        // Walk back from the output; the cut tensor is where the walk stops.
        Set<Node> kept = new HashSet<>();
        Set<String> sources = new HashSet<>(); // tensors the tail reads that no kept node produces
        Deque<String> needed = new ArrayDeque<>(List.of(output));
        Set<String> seen = new HashSet<>();
        boolean reachesCut = false;
        while (!needed.isEmpty()) {
            String name = needed.pop();
            if (name.isEmpty() || !seen.add(name)) {
                continue; // "" is ONNX's absent optional input
            }
            if (name.equals(cut)) {
                reachesCut = true;
                continue;
            }
            Node producer = producers.get(name);
            if (producer == null) {
                sources.add(name);
            } else if (kept.add(producer)) {
                needed.addAll(producer.inputs());
            }
        }
        if (!reachesCut) {
            throw new IllegalArgumentException("the output " + output + " does not depend on " + cut);
        }
        for (Node node : kept) {
            if (node.outputs().contains(cut)) {
                throw new IllegalArgumentException("cannot cut at " + cut + ": the node producing it is needed"
                        + " by the rest of the model for another of its outputs");
            }
            if (node.hasSubgraph()) {
                throw new IllegalArgumentException("cannot cut the model at " + cut + ": the rest of the model"
                        + " holds a node with a subgraph (If, Loop, Scan), which this cut does not follow");
            }
        }
        Set<String> produced = new HashSet<>();
        Set<Field> keptNodes = new HashSet<>();
        for (Node node : kept) {
            produced.addAll(node.outputs());
            keptNodes.add(node.field());
        }

        ByteArrayOutputStream tail = new ByteArrayOutputStream(model.length);
        for (Field f : graphFields) {
            if (keep(model, f, keptNodes, sources, produced, output, cut)) {
                tail.write(model, f.start(), f.end() - f.start());
            }
        }
        tail.writeBytes(OnnxGraphEdit.lenField(GRAPH_INPUT, floatInput(cut, width), 0));
        byte[] tailGraph = tail.toByteArray();

        ByteArrayOutputStream out = new ByteArrayOutputStream(model.length);
        out.write(model, 0, graph.start());
        out.writeBytes(OnnxGraphEdit.lenField(OnnxGraphEdit.MODEL_GRAPH, tailGraph, 0));
        out.write(model, graph.end(), model.length - graph.end());
        return out.toByteArray();
    }

    /** Whether a field of the graph belongs to the tail (fields other than the listed ones always do). */
    private static boolean keep(
            byte[] model,
            Field f,
            Set<Field> keptNodes,
            Set<String> sources,
            Set<String> produced,
            String output,
            String cut) {
        if (f.wireType() != OnnxGraphEdit.WIRE_LEN) {
            return true;
        }
        return switch (f.number()) {
            case OnnxGraphEdit.GRAPH_NODE -> keptNodes.contains(f);
            case GRAPH_INPUT -> sources.contains(valueInfoName(model, f));
            case GRAPH_INITIALIZER -> sources.contains(stringField(model, f, TENSOR_NAME));
            case GRAPH_SPARSE_INITIALIZER -> sources.contains(sparseName(model, f));
            case OnnxGraphEdit.GRAPH_OUTPUT -> valueInfoName(model, f).equals(output);
            case GRAPH_VALUE_INFO -> {
                String name = valueInfoName(model, f);
                yield produced.contains(name) && !name.equals(cut);
            }
            default -> true;
        };
    }

    private static Node node(byte[] model, Field f) {
        List<String> inputs = new ArrayList<>();
        List<String> outputs = new ArrayList<>();
        boolean subgraph = false;
        for (Field g : OnnxGraphEdit.fields(model, f.valueStart(), f.end())) {
            if (g.wireType() != OnnxGraphEdit.WIRE_LEN) {
                continue;
            }
            if (g.number() == NODE_INPUT) {
                inputs.add(OnnxGraphEdit.string(model, g));
            } else if (g.number() == OnnxGraphEdit.NODE_OUTPUT) {
                outputs.add(OnnxGraphEdit.string(model, g));
            } else if (g.number() == NODE_ATTRIBUTE) {
                for (Field a : OnnxGraphEdit.fields(model, g.valueStart(), g.end())) {
                    subgraph |= a.number() == ATTRIBUTE_GRAPH || a.number() == ATTRIBUTE_GRAPHS;
                }
            }
        }
        return new Node(f, inputs, outputs, subgraph);
    }

    private static String valueInfoName(byte[] model, Field f) {
        return stringField(model, f, OnnxGraphEdit.VALUE_INFO_NAME);
    }

    /** The string field {@code number} of the message in {@code f}, or "" if it has none. */
    private static String stringField(byte[] model, Field f, int number) {
        for (Field g : OnnxGraphEdit.fields(model, f.valueStart(), f.end())) {
            if (g.number() == number && g.wireType() == OnnxGraphEdit.WIRE_LEN) {
                return OnnxGraphEdit.string(model, g);
            }
        }
        return "";
    }

    private static String sparseName(byte[] model, Field f) {
        for (Field g : OnnxGraphEdit.fields(model, f.valueStart(), f.end())) {
            if (g.number() == SPARSE_VALUES && g.wireType() == OnnxGraphEdit.WIRE_LEN) {
                return stringField(model, g, TENSOR_NAME);
            }
        }
        return "";
    }

    /** A ValueInfoProto: float tensor {@code [batch, sequence, width]}. */
    private static byte[] floatInput(String name, int width) {
        ByteArrayOutputStream dims = new ByteArrayOutputStream();
        dims.writeBytes(OnnxGraphEdit.lenField(SHAPE_DIM, dimParam("batch"), 0));
        dims.writeBytes(OnnxGraphEdit.lenField(SHAPE_DIM, dimParam("sequence"), 0));
        dims.writeBytes(OnnxGraphEdit.lenField(SHAPE_DIM, OnnxGraphEdit.lenField(DIM_VALUE, null, width), 0));
        ByteArrayOutputStream tensor = new ByteArrayOutputStream();
        tensor.writeBytes(OnnxGraphEdit.lenField(OnnxGraphEdit.TENSOR_ELEM_TYPE, null, OnnxGraphEdit.ELEM_FLOAT));
        tensor.writeBytes(OnnxGraphEdit.lenField(TENSOR_SHAPE, dims.toByteArray(), 0));
        byte[] type = OnnxGraphEdit.lenField(OnnxGraphEdit.TYPE_TENSOR, tensor.toByteArray(), 0);
        ByteArrayOutputStream info = new ByteArrayOutputStream();
        info.writeBytes(
                OnnxGraphEdit.lenField(OnnxGraphEdit.VALUE_INFO_NAME, name.getBytes(StandardCharsets.UTF_8), 0));
        info.writeBytes(OnnxGraphEdit.lenField(OnnxGraphEdit.VALUE_INFO_TYPE, type, 0));
        return info.toByteArray();
    }

    private static byte[] dimParam(String name) {
        return OnnxGraphEdit.lenField(DIM_PARAM, name.getBytes(StandardCharsets.UTF_8), 0);
    }
}
