package ai.batchtopk.extract;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.Charset;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HexFormat;
import java.util.Locale;

/**
 * Reads a text file block by block, decoding it strictly: a byte sequence that is not a character of the
 * encoding is an error naming the file, the byte offset and the line, never a silently dropped or
 * replaced character. Memory stays at one block whatever the file's size.
 *
 * <p>The file is opened for each block and closed again, so a reader abandoned halfway (an extraction
 * stopped by {@code --max-tokens}, a training run that ends mid-epoch) holds no open file.
 */
final class TextFileReader {
    /** Bytes read per block; also what {@link #binaryReason} looks at. */
    static final int BLOCK = 1 << 16;
    /** More control characters than this share of a file's first block make it binary. */
    private static final double MAX_CONTROL_SHARE = 0.1;

    private final Path file;
    private final Charset encoding;
    private final CharsetDecoder decoder;
    private final ByteBuffer bytes = ByteBuffer.allocate(BLOCK).flip();
    private long position;
    private long line = 1;
    private boolean endOfFile;
    private boolean done;

    TextFileReader(Path file, Charset encoding) {
        this.file = file;
        this.encoding = encoding;
        this.decoder = encoding.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
    }

    /**
     * Decodes the next characters into {@code out}, which is cleared first and flipped for reading after.
     *
     * @return false at the end of the file (then {@code out} is empty)
     * @throws IOException naming the file if it cannot be read, or the offset and line of bytes that are
     *     not text in the encoding
     */
    boolean read(CharBuffer out) throws IOException {
        out.clear();
        while (out.position() == 0 && !done) {
            if (!endOfFile && bytes.remaining() < BLOCK / 2) {
                fill();
            }
            CoderResult result = decoder.decode(bytes, out, endOfFile);
            if (result.isError()) {
                throw notText(result, out);
            }
            if (endOfFile && !bytes.hasRemaining()) {
                decoder.flush(out);
                done = true;
            }
        }
        out.flip();
        for (int i = out.position(); i < out.limit(); i++) {
            if (out.get(i) == '\n') {
                line++;
            }
        }
        return out.hasRemaining();
    }

    /** Reads more bytes behind those not yet decoded. */
    private void fill() throws IOException {
        bytes.compact();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            int n = ch.read(bytes, position);
            if (n < 0) {
                endOfFile = true;
            } else {
                position += n;
            }
        } catch (IOException e) {
            throw new IOException("cannot read the text file " + file + ": " + e, e);
        } finally {
            bytes.flip();
        }
    }

    private IOException notText(CoderResult result, CharBuffer decoded) {
        // The decoder stops at the first bad byte: bytes before it are decoded (in `decoded`, not yet
        // counted in `line`), and `bytes` is positioned at it.
        long offset = position - bytes.remaining();
        long at = line;
        for (int i = 0; i < decoded.position(); i++) {
            if (decoded.get(i) == '\n') {
                at++;
            }
        }
        int length = Math.min(result.length(), bytes.remaining());
        byte[] bad = new byte[length];
        bytes.get(bytes.position(), bad);
        String shown =
                HexFormat.ofDelimiter(" ").withPrefix("0x").withUpperCase().formatHex(bad);
        String name = encoding.equals(StandardCharsets.UTF_8) ? "UTF-8" : encoding.name();
        String what = result.isMalformed()
                ? (endOfFile && length == bytes.remaining()
                        ? "an incomplete " + name + " character at the end of the file"
                        : "not a valid " + name + " sequence")
                : "not a character in " + name;
        return new IOException(String.format(
                Locale.ROOT,
                "%s is not %s text: byte %s at offset %d (line %d) is %s; convert the file to %s, or name its"
                        + " encoding with --encoding (e.g. --encoding latin-1)",
                file,
                name,
                shown,
                offset,
                at,
                what,
                name));
    }

    /**
     * Why {@code file} looks like a binary file rather than text, or null if it looks like text: its first
     * block holds a NUL character, or more than a tenth of control characters (other than tab, line breaks,
     * form feed and escape), decoded leniently in {@code encoding}.
     *
     * @throws IOException naming the file if it cannot be read
     */
    static String binaryReason(Path file, Charset encoding) throws IOException {
        ByteBuffer head = ByteBuffer.allocate(BLOCK);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            while (head.hasRemaining() && ch.read(head) > 0) {
                // Short reads happen (pipes, network file systems); read on up to one block.
            }
        } catch (IOException e) {
            throw new IOException("cannot read the text file " + file + ": " + e, e);
        }
        head.flip();
        int bytes = head.remaining();
        CharBuffer chars = encoding.newDecoder()
                .onMalformedInput(CodingErrorAction.REPLACE)
                .onUnmappableCharacter(CodingErrorAction.REPLACE)
                .decode(head);
        int controls = 0;
        for (int i = 0; i < chars.length(); i++) {
            char c = chars.get(i);
            if (c == 0) {
                return "a NUL byte at character " + i + " of its first " + bytes + " bytes";
            }
            if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != 0x0B && c != 0x1B) || c == 0x7F) {
                controls++;
            }
        }
        if (controls > MAX_CONTROL_SHARE * chars.length()) {
            return String.format(
                    Locale.ROOT,
                    "%.0f%% control characters in its first %d bytes",
                    100.0 * controls / chars.length(),
                    bytes);
        }
        return null;
    }
}
