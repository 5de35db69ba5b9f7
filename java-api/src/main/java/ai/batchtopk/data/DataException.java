package ai.batchtopk.data;

/**
 * Activation data that cannot be trained on as asked: a file missing, of another width or dtype, not a
 * float matrix, changed while it was read. The message names the file and the problem.
 */
public final class DataException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public DataException(String message) {
        super(message);
    }

    public DataException(String message, Throwable cause) {
        super(message, cause);
    }
}
