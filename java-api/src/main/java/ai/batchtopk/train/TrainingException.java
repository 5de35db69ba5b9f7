package ai.batchtopk.train;

/**
 * A training run that cannot go on: it diverged, a batch held a NaN (the run was saved first), a
 * checkpoint could not be written, a resume found other data than its checkpoint's. The message says
 * what happened and, where there is one, how to go on.
 */
public final class TrainingException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public TrainingException(String message) {
        super(message);
    }

    public TrainingException(String message, Throwable cause) {
        super(message, cause);
    }
}
