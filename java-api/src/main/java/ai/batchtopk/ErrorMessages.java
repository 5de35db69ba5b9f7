package ai.batchtopk;

import java.io.FileNotFoundException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;

/**
 * Turns an exception into the one line printed after {@code error: }. Our own exceptions already say
 * what went wrong; the JDK's file exceptions carry only a path, so they get the missing words.
 */
public final class ErrorMessages {
    private ErrorMessages() {}

    public static String describe(Throwable e) {
        String message = e.getMessage();
        String detail =
                e instanceof FileSystemException fs && fs.getReason() != null ? " (" + fs.getReason() + ")" : "";
        String text = switch (e) {
            case BatchTopKException b -> b.getMessage();
            case NoSuchFileException f -> "no such file or directory: " + f.getFile() + detail;
            case AccessDeniedException f -> "permission denied: " + f.getFile() + detail;
            case FileAlreadyExistsException f -> "already exists: " + f.getFile() + detail;
            case NotDirectoryException f -> "not a directory: " + f.getFile() + detail;
            case FileNotFoundException f -> "file not found: " + message;
            case OutOfMemoryError o ->
                "out of memory (" + message
                        + "); raise -Xmx (the batchtopk command takes it from BATCHTOPK_JAVA_OPTS) or use a"
                        + " smaller RunSpec.batchSize";
            // The JVM's word for a SIGBUS in a read of a mapping, where no reader of ours named the file.
            case InternalError i
            when message != null && message.contains("unsafe memory access") ->
                "a memory-mapped file was changed (truncated?) while it was being read (" + message + ")";
            // Where a reader did not name the file: still better than the JDK's bare "Input length = 1".
            case CharacterCodingException c ->
                "a text file is not valid UTF-8 (" + c.getClass().getSimpleName()
                        + (message == null ? "" : ": " + message) + "; the stack trace shows which read)";
            default -> message == null || message.isBlank() ? e.getClass().getSimpleName() : message;
        };
        return oneLine(text);
    }

    /** Some messages (a native one, a JSON excerpt) span lines; the error stays on one. */
    private static String oneLine(String message) {
        return message.strip().replaceAll("\\s*\\R\\s*", " ");
    }
}
