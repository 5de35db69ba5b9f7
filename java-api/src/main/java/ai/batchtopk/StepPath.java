package ai.batchtopk;

import static ai.batchtopk.bindings.batchtopk_h.*;

/**
 * Which implementation runs the training step. Both share the same state, so a run may switch at any
 * step; NAIVE exists to check FUSED against the reference's way of computing the same thing.
 */
public enum StepPath {
    /** Explicit forward and backward over the active (token, latent) pairs only. */
    FUSED(BTK_PATH_FUSED()),
    /** Dense tensors, flattened topk, scatter and autograd, as the reference code does it. */
    NAIVE(BTK_PATH_NAIVE());

    private final int code;

    StepPath(int code) {
        this.code = code;
    }

    /** The {@code BTK_PATH_*} value. */
    public int code() {
        return code;
    }

    /** The path for a {@code BTK_PATH_*} value. */
    public static StepPath fromCode(int code) {
        return EnumLookup.byCode(StepPath.class, StepPath::code, code, "step path");
    }
}
