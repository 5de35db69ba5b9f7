package ai.batchtopk;

import ai.batchtopk.bindings.batchtopk_h;
import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * The one exception type for failures reported by the native library (and for failing to load it).
 *
 * <p>It carries the {@link Status} the native function returned and the message the library left in
 * {@code btk_last_error()} for the calling thread, so a caller can branch on the status and a person
 * can read what went wrong, e.g.
 * {@code btk_sae_train_step: batch has 100 columns but the SAE expects d_in = 64 (SHAPE)}.
 */
public final class BatchTopKException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final Status status;
    private final String function;
    private final String nativeMessage;

    /**
     * @param status what kind of failure
     * @param function the native function that failed, or a Java-side operation name
     * @param nativeMessage what the library said (or the Java-side explanation)
     */
    public BatchTopKException(Status status, String function, String nativeMessage) {
        super(function + ": " + nativeMessage + " (" + status + ")");
        this.status = Objects.requireNonNull(status, "status");
        this.function = Objects.requireNonNull(function, "function");
        this.nativeMessage = Objects.requireNonNull(nativeMessage, "nativeMessage");
    }

    public Status status() {
        return status;
    }

    /** The native function (or operation) that failed, e.g. {@code btk_sae_train_step}. */
    public String function() {
        return function;
    }

    /** The message alone, without the function name and status. */
    public String nativeMessage() {
        return nativeMessage;
    }

    /**
     * Throws when {@code rc} is not {@code BTK_OK}. Call it right after the downcall, on the same
     * thread: the native message is thread-local and is replaced by the next failing call.
     */
    public static void check(int rc, String function) {
        if (rc == batchtopk_h.BTK_OK()) {
            return;
        }
        Status status = Status.of(rc);
        String message = lastError();
        if (status.code() != rc) {
            message = message + " [unknown status code " + rc + "]";
        }
        throw new BatchTopKException(status, function, message);
    }

    private static String lastError() {
        // Normally loaded already (the failing call came from it); never resolve a symbol without it.
        NativeLibrary.load();
        MemorySegment text = batchtopk_h.btk_last_error();
        if (text.equals(MemorySegment.NULL)) {
            return "(no message from the native library)";
        }
        String message = text.reinterpret(Long.MAX_VALUE).getString(0);
        return message.isEmpty() ? "(no message from the native library)" : message;
    }
}
