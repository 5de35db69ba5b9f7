package ai.batchtopk.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicFilesTest {
    @TempDir
    Path dir;

    private String[] listing() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toArray(String[]::new);
        }
    }

    @Test
    void createsAndReplaces() throws IOException {
        Path target = dir.resolve("cfg.json");
        AtomicFiles.writeString(target, "{\"a\":1}");
        assertThat(Files.readString(target)).isEqualTo("{\"a\":1}");
        AtomicFiles.write(
                target, ch -> AtomicFiles.writeFully(ch, ByteBuffer.wrap("new é".getBytes(StandardCharsets.UTF_8))));
        assertThat(Files.readString(target)).isEqualTo("new é");
        assertThat(listing()).containsExactly("cfg.json");
    }

    @Test
    void theNewFileHasTheModeOfAnyNewFileNotThatOfATemporaryFile() throws IOException {
        // Files.createTempFile would make it 0600: outputs must be as readable as any file created there.
        Set<PosixFilePermission> ordinary = Files.getPosixFilePermissions(Files.createFile(dir.resolve("plain")));
        Path target = dir.resolve("out.bin");
        AtomicFiles.writeString(target, "x");
        assertThat(Files.getPosixFilePermissions(target)).isEqualTo(ordinary);
        AtomicFiles.writeString(target, "y");
        assertThat(Files.getPosixFilePermissions(target)).isEqualTo(ordinary);
    }

    @Test
    void failedWriteLeavesTargetUntouchedAndNoTempFile() throws IOException {
        Path target = dir.resolve("ckpt.bin");
        Files.writeString(target, "old");
        assertThatThrownBy(() -> AtomicFiles.write(target, ch -> {
                    AtomicFiles.writeFully(ch, ByteBuffer.wrap("partial".getBytes(StandardCharsets.UTF_8)));
                    // while writing, the temp file is a hidden sibling of the target
                    assertThat(listing()).hasSize(2).anyMatch(n -> n.startsWith(".ckpt.bin.tmp-"));
                    throw new IOException("disk full");
                }))
                .isInstanceOf(IOException.class)
                .hasMessage("disk full");
        assertThat(Files.readString(target)).isEqualTo("old");
        assertThat(listing()).containsExactly("ckpt.bin");

        assertThatThrownBy(() -> AtomicFiles.write(target, ch -> {
                    throw new UncheckedIOException(new IOException("boom"));
                }))
                .isInstanceOf(UncheckedIOException.class);
        assertThat(Files.readString(target)).isEqualTo("old");
        assertThat(listing()).containsExactly("ckpt.bin");
    }

    @Test
    void writesLargeSegmentsInChunks() throws IOException {
        Path target = dir.resolve("big.bin");
        try (Arena arena = Arena.ofConfined()) {
            long n = (64L << 20) + 12345; // more than one chunk
            MemorySegment seg = arena.allocate(n);
            seg.set(ValueLayout.JAVA_BYTE, 0, (byte) 1);
            seg.set(ValueLayout.JAVA_BYTE, n - 1, (byte) 2);
            AtomicFiles.write(target, ch -> AtomicFiles.writeFully(ch, seg));
            assertThat(Files.size(target)).isEqualTo(n);
            try (var ch = java.nio.channels.FileChannel.open(target)) {
                MemorySegment back = ch.map(java.nio.channels.FileChannel.MapMode.READ_ONLY, 0, n, arena);
                assertThat(back.mismatch(seg)).isEqualTo(-1);
            }
        }
    }

    @Test
    void writesHeapSegmentsOfAnyArrayType() throws IOException {
        Path target = dir.resolve("heap.bin");
        float[] floats = new float[300_000]; // > 1 MiB: several chunks through the copy buffer
        for (int i = 0; i < floats.length; i++) {
            floats[i] = i * 0.5f;
        }
        MemorySegment seg = MemorySegment.ofArray(floats).asSlice(4); // offset slice of a float[]
        AtomicFiles.write(target, ch -> AtomicFiles.writeFully(ch, seg));
        assertThat(MemorySegment.ofArray(Files.readAllBytes(target)).mismatch(seg))
                .isEqualTo(-1);
        MemorySegment bytes = MemorySegment.ofArray(new byte[] {1, 2, 3, 4, 5}).asSlice(1, 3);
        AtomicFiles.write(target, ch -> AtomicFiles.writeFully(ch, bytes));
        assertThat(Files.readAllBytes(target)).containsExactly(2, 3, 4);
        AtomicFiles.write(target, ch -> AtomicFiles.writeFully(ch, MemorySegment.ofArray(new long[0])));
        assertThat(Files.size(target)).isZero();
    }

    @Test
    void writesIntoSubdirectory() throws IOException {
        Path target = dir.resolve("sub").resolve("x.txt");
        Files.createDirectories(target.getParent());
        AtomicFiles.writeString(target, "x");
        assertThat(Files.readString(target)).isEqualTo("x");
    }
}
