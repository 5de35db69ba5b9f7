package ai.batchtopk.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Helpers shared by the io tests. */
final class TestFiles {
    private TestFiles() {}

    /** A committed reference file from src/test/resources/fixtures (see the README there). */
    static Path fixture(String name) {
        URL url = TestFiles.class.getResource("/fixtures/" + name);
        assertThat(url).as("fixture %s on the test classpath", name).isNotNull();
        try {
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new AssertionError(e);
        }
    }

    /** Runs {@code action}, asserts it throws MalformedFileException naming the file and every fragment. */
    static MalformedFileException assertMalformed(Path file, ThrowingRunnable action, String... fragments) {
        MalformedFileException e = catchThrowableOfType(MalformedFileException.class, action::run);
        assertThat(e).as("expected MalformedFileException for %s", file).isNotNull();
        assertThat(e.getMessage()).contains(file.toString());
        for (String f : fragments) {
            assertThat(e.getMessage()).containsIgnoringCase(f);
        }
        assertThat(e.file()).isEqualTo(file);
        return e;
    }

    @FunctionalInterface
    interface ThrowingRunnable {
        void run() throws Throwable;
    }

    /** A safetensors file: 8-byte little-endian header length, the header bytes, then {@code data}. */
    static byte[] safetensorsBytes(String header, byte[] data) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        return safetensorsBytes(h.length, h, data);
    }

    static byte[] safetensorsBytes(long declaredLength, byte[] header, byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(declaredLength).put(header).put(data);
        return b.array();
    }

    /** A .npy file with the given version, header text (used as is) and data. */
    static byte[] npyBytes(int major, int minor, String header, byte[] data) {
        byte[] h = header.getBytes(StandardCharsets.ISO_8859_1);
        int pre = major == 1 ? 10 : 12;
        ByteBuffer b = ByteBuffer.allocate(pre + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', (byte) major, (byte) minor});
        if (major == 1) {
            b.putShort((short) h.length);
        } else {
            b.putInt(h.length);
        }
        b.put(h).put(data);
        return b.array();
    }

    static Path write(Path dir, String name, byte[] bytes) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    static byte[] bytes(MemorySegment s) {
        return s.toArray(ValueLayout.JAVA_BYTE);
    }

    static short[] shorts(MemorySegment s) {
        short[] out = new short[(int) (s.byteSize() / 2)];
        MemorySegment.copy(s, Tensor.I16_LE, 0, out, 0, out.length);
        return out;
    }
}
