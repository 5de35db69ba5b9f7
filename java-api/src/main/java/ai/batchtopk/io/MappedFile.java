package ai.batchtopk.io;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.util.Objects;

/**
 * A file as it was when it was memory-mapped (size, modification time and identity: device and inode),
 * and the two safe ways to read its mapping while another process may change the file.
 *
 * <p>Why this is needed: a mapping does not copy the file. When the file is truncated, the pages past
 * its new end are gone, and reading them raises SIGBUS. If native code (libtorch) does the read, the
 * signal kills the JVM. If Java does it ({@link MemorySegment#copy}, a {@code get}), the JVM turns the
 * fault into an {@link InternalError} ("a fault occurred in an unsafe memory access operation"), though
 * not always in the call that faulted: compiled code raises it at the thread's next safepoint check, at
 * the latest on its way back from the next native call. Hence {@link #copy} ends with a {@code stat} of
 * the file (a native call) inside the same {@code try}, which also catches what faults miss: a file
 * rewritten in place, and rows in the last page of a truncated file, which read as zeros.
 *
 * <ul>
 *   <li>{@link #copy}: copies bytes out of the mapping in Java (off-heap to off-heap, never through the
 *       Java heap), then checks the file. A change of the file is a {@link FileChangedException} naming
 *       it, never a crash: use it wherever a copy is made anyway (filling a prefetch buffer, evaluating).
 *       Callers that make many small copies (gathering shuffled rows) use {@link #readFailed} around
 *       them and one {@link #requireUnchanged} at the end instead.</li>
 *   <li>{@link #requireUnchanged}: compares the file's metadata ({@code stat}) with the snapshot, before
 *       a view of the mapping is handed to native code. It cannot close the window between the check
 *       and the native read: a file truncated in that window (the milliseconds until native code has read
 *       the view) still kills the process with SIGBUS. Only a copy closes it.</li>
 * </ul>
 *
 * @param path the file
 * @param size its size in bytes
 * @param modified its last modification time
 * @param key its identity ({@link BasicFileAttributes#fileKey()}: device and inode on Linux; may be null
 *     on file systems without one)
 */
public record MappedFile(Path path, long size, FileTime modified, Object key) {
    public MappedFile {
        Objects.requireNonNull(path, "path");
        Objects.requireNonNull(modified, "modified");
    }

    /**
     * The file as it is now.
     *
     * @throws NoSuchFileException if it does not exist
     * @throws IOException if its metadata cannot be read
     */
    public static MappedFile of(Path path) throws IOException {
        BasicFileAttributes a = Files.readAttributes(path, BasicFileAttributes.class);
        return new MappedFile(path, a.size(), a.lastModifiedTime(), a.fileKey());
    }

    /**
     * Maps a whole regular file read-only into {@code arena}; the readers of every format start here.
     * A directory, a FIFO or a device is refused before it is opened (opening a FIFO would block), and a
     * file the kernel will not map (a file of /proc or /sys) is reported with its path.
     *
     * @throws FileSystemException naming the file and the problem
     */
    static MemorySegment mapReadOnly(Path file, Arena arena) throws IOException {
        if (!Files.isRegularFile(file)) {
            if (!Files.exists(file)) {
                throw new NoSuchFileException(file.toString());
            }
            throw new FileSystemException(
                    file.toString(),
                    null,
                    Files.isDirectory(file)
                            ? "is a directory, not a file"
                            : "is not a regular file (a FIFO, socket or device cannot be mapped)");
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            try {
                return ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            } catch (IOException e) {
                throw new FileSystemException(
                        file.toString(),
                        null,
                        "cannot be memory-mapped (" + e.getMessage()
                                + "); activations and weights must be in regular files on a local or network file system");
            }
        }
    }

    /**
     * Checks that the file is still the one that was mapped, as it was: same identity, size and
     * modification time. Call it right before a mapped view goes to native code (see the class comment
     * for the window it cannot close), and after reads of the mapping in Java, inside the {@code try}
     * that catches their fault.
     *
     * @throws FileChangedException naming the file, what it was and what it is now
     */
    public void requireUnchanged() {
        MappedFile now;
        try {
            now = of(path);
        } catch (NoSuchFileException e) {
            throw new FileChangedException(
                    path, path + " was deleted or renamed while being read (it was " + size + " bytes when opened)", e);
        } catch (IOException e) {
            throw new FileChangedException(
                    path, path + " can no longer be checked while being read: " + e.getMessage(), e);
        }
        if (!now.equals(this)) {
            throw changed(now, null);
        }
    }

    /**
     * Copies {@code bytes} bytes from {@code mapping} (a view of this file's mapping) to {@code out} in
     * Java, then checks the file ({@link #requireUnchanged}): if the file has been changed, the copy is a
     * {@link FileChangedException}, not a crash and not silently wrong bytes.
     *
     * @throws FileChangedException if the file changed or reading the mapping faulted
     */
    public void copy(MemorySegment mapping, long offset, MemorySegment out, long outOffset, long bytes) {
        try {
            MemorySegment.copy(mapping, offset, out, outOffset, bytes);
            requireUnchanged();
        } catch (InternalError fault) {
            throw readFailed(fault);
        }
    }

    /**
     * The error for a read of the mapping that faulted (the JVM's {@link InternalError}), with what the
     * file is now. For callers that read the mapping by other means than {@link #copy}.
     */
    public FileChangedException readFailed(InternalError fault) {
        MappedFile now;
        try {
            now = of(path);
        } catch (IOException e) {
            return new FileChangedException(
                    path,
                    path + " was deleted or renamed while being read: reading its mapping" + " faulted (it was " + size
                            + " bytes when opened)",
                    fault);
        }
        if (now.equals(this)) {
            return new FileChangedException(
                    path,
                    path + " could not be read: reading its mapping faulted although the" + " file looks unchanged ("
                            + size + " bytes); an I/O error of the disk or network file system?",
                    fault);
        }
        return changed(now, fault);
    }

    /** Whether the file is still as it was (no exception: for scanning several files after a fault). */
    public boolean isUnchanged() {
        try {
            return of(path).equals(this);
        } catch (IOException e) {
            return false;
        }
    }

    private FileChangedException changed(MappedFile now, Throwable cause) {
        String what;
        if (!Objects.equals(now.key, key)) {
            what = "it was replaced by another file (" + key + " when opened, " + now.key + " now)";
        } else if (now.size != size) {
            what = "it was " + size + " bytes when opened and is now " + now.size + " bytes"
                    + (now.size < size ? " (truncated)" : "");
        } else {
            what = "it was modified at " + now.modified + " (" + modified + " when opened)";
        }
        return new FileChangedException(
                path,
                path + " changed while being read: " + what
                        + "; a file must not be modified while a run reads it: restore it, or start again",
                cause);
    }
}
