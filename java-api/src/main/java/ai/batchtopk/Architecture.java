package ai.batchtopk;

import static ai.batchtopk.bindings.batchtopk_h.*;

/** Which sparsity rule the SAE trains with (see ALGORITHM.md). */
public enum Architecture {
    /** The k*B largest activations over the whole batch; a global threshold theta at inference. */
    BATCHTOPK("batchtopk", BTK_ARCH_BATCHTOPK()),
    /** The k largest activations of each row. */
    TOPK("topk", BTK_ARCH_TOPK()),
    /** Learned per-latent thresholds, an L0 penalty trained with straight-through gradients. */
    JUMPRELU("jumprelu", BTK_ARCH_JUMPRELU()),
    /** ReLU with an L1 penalty ("vanilla"). */
    RELU("relu", BTK_ARCH_RELU()),
    /**
     * BatchTopK's selection over the whole dictionary, trained so that each prefix of the latents (cut
     * at {@link SaeConfig#matryoshkaWidths()}) reconstructs on its own; theta at inference.
     */
    MATRYOSHKA_BATCHTOPK("matryoshka-batchtopk", BTK_ARCH_MATRYOSHKA_BATCHTOPK());

    private final String cliName;
    private final int code;

    Architecture(String cliName, int code) {
        this.cliName = cliName;
        this.code = code;
    }

    /** The name used on the command line and in our JSON, e.g. {@code batchtopk}. */
    public String cliName() {
        return cliName;
    }

    /** The {@code BTK_ARCH_*} value. */
    public int code() {
        return code;
    }

    /** Whether k sets its sparsity: BatchTopK, TopK and Matryoshka BatchTopK. */
    public boolean usesK() {
        return this == BATCHTOPK || this == TOPK || this == MATRYOSHKA_BATCHTOPK;
    }

    /** Whether it learns the global inference threshold theta: BatchTopK and Matryoshka BatchTopK. */
    public boolean hasTheta() {
        return this == BATCHTOPK || this == MATRYOSHKA_BATCHTOPK;
    }

    /** The architecture for a command-line name (case-insensitive). */
    public static Architecture fromCliName(String name) {
        return EnumLookup.byName(Architecture.class, Architecture::cliName, name, "architecture");
    }

    /** The architecture for a {@code BTK_ARCH_*} value. */
    public static Architecture fromCode(int code) {
        return EnumLookup.byCode(Architecture.class, Architecture::code, code, "architecture");
    }
}
