package ai.batchtopk.io;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A file exists and could be read but its contents are not a valid file of the expected format
 * (or use a feature this library does not support). The message names the file and the problem.
 */
public final class MalformedFileException extends IOException {
    private static final long serialVersionUID = 1L;

    private final transient Path file;

    /** Message {@code "<file>: <problem>"}. */
    public MalformedFileException(Path file, String problem) {
        super(file + ": " + problem);
        this.file = file;
    }

    /** Message {@code "<file>: <problem>"}, with a cause. */
    public MalformedFileException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
        this.file = file;
    }

    /** The offending file (may be null if the exception was deserialized). */
    public Path file() {
        return file;
    }
}
