package ai.batchtopk.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Files changed under a mapping: a truncation read in Java is a clear error naming the file (the JVM
 * raises the SIGBUS as an InternalError, which MappedFile turns into a FileChangedException), and the
 * metadata check sees truncation, rewriting, replacement and deletion. Nothing here hands a mapping to
 * native code, so a fault cannot take the test JVM down.
 */
class MappedFileTest {
    private static final int PAGE = 4096;

    @TempDir
    Path dir;

    /** A file of {@code pages} pages of bytes 1, mapped. */
    private MemorySegment mapped(Path file, int pages, Arena arena) throws IOException {
        byte[] bytes = new byte[pages * PAGE];
        java.util.Arrays.fill(bytes, (byte) 1);
        Files.write(file, bytes);
        return MappedFile.mapReadOnly(file, arena);
    }

    private static void truncate(Path file, long size) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(size);
        }
    }

    @Test
    void aCopyFromATruncatedFileIsAnErrorNamingTheFileNotACrash() throws IOException {
        Path file = dir.resolve("rows.bin");
        try (Arena arena = Arena.ofShared()) {
            MemorySegment mapping = mapped(file, 16, arena);
            MappedFile snapshot = MappedFile.of(file);
            MemorySegment out = arena.allocate(8 * PAGE);
            // Compiled by the JIT, as in a long run (where the fault surfaces later than the copy: at the check).
            for (int i = 0; i < 20_000; i++) {
                snapshot.copy(mapping, (i % 64) * 64L, out, 0, 64);
            }
            truncate(file, 2 * PAGE);
            // Pages 2..15 are gone: reading them faults.
            FileChangedException e = catchThrowableOfType(
                    FileChangedException.class, () -> snapshot.copy(mapping, 8L * PAGE, out, 0, 64));
            assertThat(e).isNotNull();
            assertThat(e.file()).isEqualTo(file);
            assertThat(e.getCause()).as("the JVM's report of the fault").isInstanceOf(InternalError.class);
            assertThat(e.getMessage())
                    .contains(file.toString())
                    .contains("changed while being read")
                    .contains(16 * PAGE + " bytes when opened")
                    .contains("now " + 2 * PAGE + " bytes (truncated)");
            assertThatThrownBy(() -> snapshot.copy(mapping, 4L * PAGE, out, 0, 4 * PAGE))
                    .isInstanceOf(FileChangedException.class)
                    .hasMessageContaining("truncated");
        }
    }

    @Test
    void theZerosAfterTheEndInTheLastPageAreCaughtByTheCheckAfterTheCopy() throws IOException {
        Path file = dir.resolve("rows.bin");
        try (Arena arena = Arena.ofShared()) {
            MemorySegment mapping = mapped(file, 4, arena);
            MappedFile snapshot = MappedFile.of(file);
            truncate(file, PAGE + 100);
            MemorySegment out = arena.allocate(64);
            // Bytes 200..263 of page 1 read as zeros without any fault; only the size says they are gone.
            assertThatThrownBy(() -> snapshot.copy(mapping, PAGE + 200, out, 0, 64))
                    .isInstanceOf(FileChangedException.class)
                    .hasMessageContaining("truncated");
            assertThat(out.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0)).isZero();
        }
    }

    @Test
    void theCheckSeesARewriteAReplacementAndADeletion() throws IOException {
        Path file = dir.resolve("rows.bin");
        Files.write(file, new byte[100]);
        MappedFile snapshot = MappedFile.of(file);
        snapshot.requireUnchanged();
        assertThat(snapshot.isUnchanged()).isTrue();

        Files.setLastModifiedTime(file, FileTime.from(snapshot.modified().toMillis() + 5000, TimeUnit.MILLISECONDS));
        assertThatThrownBy(snapshot::requireUnchanged)
                .isInstanceOf(FileChangedException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining("it was modified at");
        assertThat(snapshot.isUnchanged()).isFalse();

        Path other = dir.resolve("other.bin");
        Files.write(other, new byte[100]);
        Files.move(other, file, StandardCopyOption.REPLACE_EXISTING);
        MappedFile replaced = MappedFile.of(file);
        Assumptions.assumeTrue(snapshot.key() != null, "this file system has no file keys");
        assertThatThrownBy(snapshot::requireUnchanged)
                .isInstanceOf(FileChangedException.class)
                .hasMessageContaining("replaced by another file");

        Files.delete(file);
        assertThatThrownBy(replaced::requireUnchanged)
                .isInstanceOf(FileChangedException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining("deleted or renamed");
    }

    @Test
    void directoriesFifosAndFilesTheKernelWillNotMapAreRefusedWithTheirPath() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            assertThatThrownBy(() -> Npy.map(dir, arena))
                    .isInstanceOf(FileSystemException.class)
                    .hasMessageContaining(dir.toString())
                    .hasMessageContaining("is a directory");
            assertThatThrownBy(() -> Safetensors.open(dir, arena))
                    .isInstanceOf(FileSystemException.class)
                    .hasMessageContaining(dir.toString())
                    .hasMessageContaining("is a directory");

            Path fifo = dir.resolve("fifo");
            Process mkfifo = new ProcessBuilder("mkfifo", fifo.toString()).start();
            Assumptions.assumeTrue(mkfifo.waitFor() == 0, "mkfifo is not available");
            // Opening a FIFO for reading would block until a writer came: it must be refused before that.
            assertThatThrownBy(() -> Npy.map(fifo, arena))
                    .isInstanceOf(FileSystemException.class)
                    .hasMessageContaining(fifo.toString())
                    .hasMessageContaining("not a regular file");

            // A regular file of /sys that mmap refuses (ENODEV): its path and the reason, not a bare "No such device".
            Path sys = Path.of("/sys/kernel/mm/transparent_hugepage/enabled");
            Assumptions.assumeTrue(Files.isRegularFile(sys), "no " + sys + " here");
            assertThatThrownBy(() -> Npy.map(sys, arena))
                    .isInstanceOf(FileSystemException.class)
                    .hasMessageContaining(sys.toString())
                    .hasMessageContaining("cannot be memory-mapped");
        }
    }
}
