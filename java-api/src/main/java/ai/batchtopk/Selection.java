package ai.batchtopk;

import static ai.batchtopk.bindings.batchtopk_h.*;

/** Which rule picks the active latents when encoding outside of a training step. */
public enum Selection {
    /**
     * The rule a deployed SAE uses, one token at a time: theta for BatchTopK, the k largest per row
     * for TopK, the learned thresholds for JumpReLU, plain ReLU for ReLU.
     */
    INFERENCE(BTK_SELECT_INFERENCE()),
    /** The batch rule used while training (the k*B largest over the whole batch for BatchTopK). */
    TRAINING(BTK_SELECT_TRAINING());

    private final int code;

    Selection(int code) {
        this.code = code;
    }

    /** The {@code BTK_SELECT_*} value. */
    public int code() {
        return code;
    }
}
