package ai.batchtopk.io;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.HexFormat;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Atomic file replacement: readers of {@code target} see either the old complete file or the new
 * complete file, never a partial one, even if the writer or the machine crashes midway.
 *
 * <p>The new content is written to a temporary file {@code .<name>.tmp-<random>} in the same directory
 * (so the rename cannot cross file systems), forced to disk with {@code force(true)}, then renamed over
 * the target with {@link StandardCopyOption#ATOMIC_MOVE}; finally the directory is fsynced (best effort)
 * so the rename itself is durable. If anything fails the temporary file is deleted and the target is
 * left untouched. The new file gets the permissions of any new file (0666 less the umask; not the 0600
 * of {@code Files.createTempFile}, and not those of the old target).
 */
public final class AtomicFiles {
    private static final int CHUNK = 64 << 20;

    private AtomicFiles() {}

    /**
     * Atomically replaces (or creates) {@code target} with whatever {@code writer} writes to the channel.
     * The channel is positioned at 0 of an empty file opened for writing; the writer must not close it.
     */
    public static void write(Path target, IOConsumer<FileChannel> writer) throws IOException {
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        if (dir == null || abs.getFileName() == null) {
            throw new IOException(target + ": not a file path");
        }
        Path tmp = createTemp(dir, abs.getFileName().toString());
        boolean moved = false;
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                writer.accept(ch);
                ch.force(true);
            }
            Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE);
            moved = true;
        } catch (Throwable t) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException | RuntimeException e) {
                t.addSuppressed(e);
            }
            throw t;
        }
        if (moved) {
            syncDirectory(dir);
        }
    }

    /** Atomically writes {@code text} encoded as UTF-8 (e.g. a cfg.json). */
    public static void writeString(Path target, String text) throws IOException {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        write(target, ch -> writeFully(ch, ByteBuffer.wrap(bytes)));
    }

    /** Writes all remaining bytes of {@code buffer} to {@code ch} at its current position. */
    public static void writeFully(FileChannel ch, ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) {
            ch.write(buffer);
        }
    }

    /**
     * Writes all bytes of {@code segment} to {@code ch} at its current position, in chunks (any size,
     * including over 2 GiB). Native and mapped segments, and heap segments over a {@code byte[]}, are
     * written directly; heap segments over other primitive arrays ({@code float[]}, ...) are copied
     * through a small byte buffer.
     */
    public static void writeFully(FileChannel ch, MemorySegment segment) throws IOException {
        long size = segment.byteSize();
        boolean direct = segment.isNative()
                || segment.isMapped()
                || segment.heapBase().map(b -> b instanceof byte[]).orElse(false);
        if (direct) {
            for (long off = 0; off < size; off += CHUNK) {
                long len = Math.min(CHUNK, size - off);
                writeFully(ch, segment.asSlice(off, len).asByteBuffer());
            }
            return;
        }
        byte[] buf = new byte[(int) Math.min(size, 1 << 20)];
        for (long off = 0; off < size; off += buf.length) {
            int len = (int) Math.min(buf.length, size - off);
            MemorySegment.copy(segment, ValueLayout.JAVA_BYTE, off, buf, 0, len);
            writeFully(ch, ByteBuffer.wrap(buf, 0, len));
        }
    }

    private static Path createTemp(Path dir, String name) throws IOException {
        HexFormat hex = HexFormat.of();
        for (int attempt = 0; ; attempt++) {
            String suffix = hex.toHexDigits(ThreadLocalRandom.current().nextLong());
            Path tmp = dir.resolve("." + name + ".tmp-" + suffix);
            try {
                return Files.createFile(tmp);
            } catch (FileAlreadyExistsException e) {
                if (attempt >= 16) {
                    throw e;
                }
            }
        }
    }

    private static void syncDirectory(Path dir) {
        // Makes the rename durable on POSIX file systems; not possible everywhere (e.g. Windows), so best effort.
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException | RuntimeException ignored) {
            // best effort
        }
    }
}
