package ai.batchtopk.io;

import java.nio.file.Path;

/**
 * A memory-mapped file was changed (truncated, rewritten, replaced or deleted) while it was being read.
 * The message names the file, what it was when it was mapped and what it is now. Unchecked: it comes
 * out of reads that declare no {@link java.io.IOException}, and nothing can be done about it but to
 * stop and restore the file.
 */
public final class FileChangedException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final transient Path file;

    public FileChangedException(Path file, String message, Throwable cause) {
        super(message, cause);
        this.file = file;
    }

    /** The file that changed (may be null if the exception was deserialized). */
    public Path file() {
        return file;
    }
}
