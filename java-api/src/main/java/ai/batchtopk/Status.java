package ai.batchtopk;

import static ai.batchtopk.bindings.batchtopk_h.*;

/**
 * The status codes of the native library ({@code BTK_*} in batchtopk.h), one to one.
 *
 * <p>The codes are read from the generated bindings rather than repeated here, so a change in the
 * header cannot leave Java with stale numbers.
 */
public enum Status {
    OK(BTK_OK()),
    /** A value out of range, a NULL pointer, an unknown name. */
    INVALID_ARGUMENT(BTK_ERR_INVALID_ARGUMENT()),
    /** A tensor of the wrong shape. */
    SHAPE(BTK_ERR_SHAPE()),
    /** A tensor of an unsupported or wrong element type. */
    DTYPE(BTK_ERR_DTYPE()),
    /** NaN or infinity in an input batch. */
    NON_FINITE(BTK_ERR_NON_FINITE()),
    /** The device asked for is not available in this build. */
    DEVICE(BTK_ERR_DEVICE()),
    OUT_OF_MEMORY(BTK_ERR_OUT_OF_MEMORY()),
    /** Any other failure inside libtorch or the shim, and failures to load the library itself. */
    INTERNAL(BTK_ERR_INTERNAL()),
    /** A process group did not assemble, or one of its collectives failed (a rank died or hung). */
    COMMUNICATION(BTK_ERR_COMMUNICATION());

    private final int code;

    Status(int code) {
        this.code = code;
    }

    /** The {@code BTK_*} value. */
    public int code() {
        return code;
    }

    /**
     * The status for a native return code. A code this enum does not know (a newer library) maps to
     * {@link #INTERNAL}; {@link BatchTopKException#check} keeps the number in its message.
     */
    public static Status of(int code) {
        for (Status status : values()) {
            if (status.code == code) {
                return status;
            }
        }
        return INTERNAL;
    }
}
