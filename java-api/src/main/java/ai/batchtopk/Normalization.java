package ai.batchtopk;

import static ai.batchtopk.bindings.batchtopk_h.*;

/** How each input token is normalised before encoding (see ALGORITHM.md, forward step 1). */
public enum Normalization {
    /** Activations are used as they are. */
    NONE("none", BTK_NORMALIZE_NONE()),
    /** {@code x <- (x - mean) / (std + 1e-5)} per token; the reference trains this way. */
    PER_TOKEN("per-token", BTK_NORMALIZE_PER_TOKEN());

    private final String cliName;
    private final int code;

    Normalization(String cliName, int code) {
        this.cliName = cliName;
        this.code = code;
    }

    /** The name used on the command line and in our JSON: {@code none} or {@code per-token}. */
    public String cliName() {
        return cliName;
    }

    /** The {@code BTK_NORMALIZE_*} value. */
    public int code() {
        return code;
    }

    /** The normalisation for a command-line name (case-insensitive). */
    public static Normalization fromCliName(String name) {
        return EnumLookup.byName(Normalization.class, Normalization::cliName, name, "normalization");
    }

    /** The normalisation for a {@code BTK_NORMALIZE_*} value. */
    public static Normalization fromCode(int code) {
        return EnumLookup.byCode(Normalization.class, Normalization::code, code, "normalization");
    }
}
