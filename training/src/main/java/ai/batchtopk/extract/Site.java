package ai.batchtopk.extract;

/** Where in a transformer layer the activations are captured. */
public enum Site {
    /** The residual stream after the layer (the output of its last LayerNorm in a post-LN BERT). */
    RESID,
    /** The MLP's hidden activations, after the nonlinearity (width: the MLP's inner size). */
    MLP;

    /** The lowercase name used on the command line and in extraction.json. */
    public String label() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
