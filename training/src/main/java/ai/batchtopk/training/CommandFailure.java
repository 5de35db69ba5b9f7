package ai.batchtopk.training;

/**
 * A failure whose message is already written for the person at the terminal (exit code 1): the
 * command line was well formed, but the files or the run could not do what it asked.
 */
final class CommandFailure extends RuntimeException {
    private static final long serialVersionUID = 1L;

    CommandFailure(String message) {
        super(message);
    }

    CommandFailure(String message, Throwable cause) {
        super(message, cause);
    }
}
