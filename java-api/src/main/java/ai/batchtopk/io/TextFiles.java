package ai.batchtopk.io;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Strict UTF-8 reading of the text files the tools read (cfg.json, JSON lines logs, token tables).
 * The JDK's own readers report bad bytes as a bare "Input length = 1"; here they are a
 * {@link MalformedFileException} naming the file, the line and the byte offset. Nothing is replaced or
 * dropped silently.
 */
public final class TextFiles {
    private TextFiles() {}

    /**
     * The whole file as text.
     *
     * @throws MalformedFileException if it is not valid UTF-8
     */
    public static String readString(Path file) throws IOException {
        requireNotDirectory(file);
        byte[] bytes = Files.readAllBytes(file);
        return decode(file, bytes, bytes.length, 1, 0);
    }

    /**
     * The first {@code maxLines} lines of the file (all of them with {@link Long#MAX_VALUE}), without
     * their terminators ({@code \n} or {@code \r\n}); a last line without a terminator counts. Reads no
     * further than it needs to.
     *
     * @throws MalformedFileException naming the line that is not valid UTF-8
     */
    public static List<String> readLines(Path file, long maxLines) throws IOException {
        requireNotDirectory(file);
        List<String> lines = new ArrayList<>();
        try (InputStream in = new BufferedInputStream(Files.newInputStream(file), 1 << 16)) {
            ByteArrayOutputStream line = new ByteArrayOutputStream();
            long offset = 0;
            long lineStart = 0;
            int b;
            while (lines.size() < maxLines && (b = in.read()) >= 0) {
                offset++;
                if (b != '\n') {
                    line.write(b);
                    continue;
                }
                lines.add(decodeLine(file, line, lines.size() + 1, lineStart));
                line.reset();
                lineStart = offset;
            }
            if (lines.size() < maxLines && line.size() > 0) {
                lines.add(decodeLine(file, line, lines.size() + 1, lineStart));
            }
        }
        return lines;
    }

    /** Reading a directory fails with a bare "Is a directory" that does not say which. */
    private static void requireNotDirectory(Path file) throws FileSystemException {
        if (Files.isDirectory(file)) {
            throw new FileSystemException(file.toString(), null, "is a directory, not a file");
        }
    }

    private static String decodeLine(Path file, ByteArrayOutputStream line, long number, long offset)
            throws MalformedFileException {
        byte[] bytes = line.toByteArray();
        int length = bytes.length > 0 && bytes[bytes.length - 1] == '\r' ? bytes.length - 1 : bytes.length;
        return decode(file, bytes, length, number, offset);
    }

    /** Decodes {@code bytes[0, length)}, which start at line {@code line} and byte {@code offset} of the file. */
    private static String decode(Path file, byte[] bytes, int length, long line, long offset)
            throws MalformedFileException {
        CharsetDecoder decoder = StandardCharsets.UTF_8
                .newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes, 0, length);
        CharBuffer out = CharBuffer.allocate(length);
        CoderResult result = decoder.decode(in, out, true);
        if (!result.isError()) {
            result = decoder.flush(out);
        }
        if (result.isError()) {
            int at = in.position();
            long lineOfError = line;
            for (int i = 0; i < at; i++) {
                if (bytes[i] == '\n') {
                    lineOfError++;
                }
            }
            throw new MalformedFileException(
                    file,
                    "is not valid UTF-8 text: line " + lineOfError + ", byte offset "
                            + (offset + at) + String.format(" (0x%02X)", bytes[at] & 0xFF)
                            + "; it must be UTF-8 (a binary or Latin-1 file given where text is expected?)");
        }
        return out.flip().toString();
    }
}
