package ai.batchtopk.extract;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Random;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TextCorpusTest {
    private static final Charset UTF_8 = StandardCharsets.UTF_8;

    @TempDir
    Path dir;

    /** One document of a pass: its index, file and text (its chunks put together). */
    private record Doc(int index, Path source, String text) {}

    /** The documents of one pass, checking that chunks are non-empty, at most {@code max} long and consecutive. */
    private static List<Doc> documents(TextSource source, int max) {
        List<Doc> docs = new ArrayList<>();
        StringBuilder text = new StringBuilder();
        int index = -1;
        Path file = null;
        for (Iterator<TextChunk> it = source.chunks(); it.hasNext(); ) {
            TextChunk c = it.next();
            assertThat(c.text()).isNotEmpty().hasSizeLessThanOrEqualTo(max);
            if (c.document() != index) {
                assertThat(c.document()).isGreaterThan(index);
                if (index >= 0) {
                    docs.add(new Doc(index, file, text.toString()));
                }
                index = c.document();
                file = c.source();
                text.setLength(0);
            }
            text.append(c.text());
        }
        if (index >= 0) {
            docs.add(new Doc(index, file, text.toString()));
        }
        return docs;
    }

    private static List<String> texts(TextSource source, int max) {
        return documents(source, max).stream().map(Doc::text).toList();
    }

    @Test
    void splitsAtBlankLinesAndSkipsEmptyDocuments() throws IOException {
        Path f = dir.resolve("a.txt");
        Files.writeString(f, "First paragraph\nstill first.\n\n  \t\nSecond.\r\n\r\n\n   \n");
        List<Doc> docs = documents(TextCorpus.open(List.of(f), UTF_8), TextChunk.MAX_CHARS);
        assertThat(docs).extracting(Doc::text).containsExactly("First paragraph\nstill first.", "Second.");
        assertThat(docs).extracting(Doc::source).containsOnly(f);
        assertThat(docs).extracting(Doc::index).containsExactly(0, 1);
    }

    @Test
    void aWindowsLineBreakIsOneLineBreakNotABlankLine() throws IOException {
        Path f = Files.writeString(dir.resolve("crlf.txt"), "line one\r\nline two\r\n\r\nnext paragraph\r\n");
        assertThat(texts(TextCorpus.open(List.of(f), UTF_8), TextChunk.MAX_CHARS))
                .containsExactly("line one\r\nline two", "next paragraph");
    }

    /**
     * The streamed split, with chunks of a few characters, gives the documents of the rule it replaces (split
     * at {@code \R[ \t\x0B\f]*\R}, strip, drop the empty ones) on random text without carriage returns
     * (where that rule also split {@code \r\n}).
     */
    @Test
    void streamedParagraphsAreThoseOfTheBlankLineRuleInAnyChunkSize() throws IOException {
        Pattern blankLine = Pattern.compile("\\R[ \\t\\x0B\\f]*\\R");
        char[] alphabet = {'a', 'b', 'c', ' ', ' ', '\t', '\n', '\n', 0x0B, '\f', 0x2028, 0xA0, 0x2003, '.', 'é'};
        Random random = new Random(20261201);
        for (int trial = 0; trial < 300; trial++) {
            StringBuilder sb = new StringBuilder();
            int length = random.nextInt(60);
            for (int i = 0; i < length; i++) {
                sb.append(alphabet[random.nextInt(alphabet.length)]);
            }
            String text = sb.toString();
            List<String> expected = new ArrayList<>();
            for (String part : blankLine.split(text)) {
                if (!part.strip().isEmpty()) {
                    expected.add(part.strip());
                }
            }
            Path f = Files.writeString(dir.resolve("t" + trial + ".txt"), text);
            int max = 2 + random.nextInt(6);
            if (expected.isEmpty()) {
                assertThat(texts(TextCorpus.open(List.of(f), UTF_8, max), max)).isEmpty();
            } else {
                assertThat(texts(TextCorpus.open(List.of(f), UTF_8, max), max))
                        .as("%s", text.chars().boxed().toList())
                        .isEqualTo(expected);
            }
        }
    }

    @Test
    void chunksEndAtWordEndsAndFilesAreReadAcrossBlocks() throws IOException {
        // Two-byte characters across the reader's 64 KiB blocks, one long document, cut into chunks.
        String word = "café, naïve ";
        String doc = word.repeat(3 * TextFileReader.BLOCK / word.length()).strip();
        Path f = Files.writeString(dir.resolve("long.txt"), doc + "\n\nend");
        List<String> chunks = new ArrayList<>();
        for (Iterator<TextChunk> it = TextCorpus.open(List.of(f), UTF_8, 1000).chunks(); it.hasNext(); ) {
            chunks.add(it.next().text());
        }
        assertThat(String.join("", chunks.subList(0, chunks.size() - 1))).isEqualTo(doc);
        assertThat(chunks.getLast()).isEqualTo("end");
        for (String c : chunks.subList(0, chunks.size() - 2)) {
            assertThat(c).hasSizeLessThanOrEqualTo(1000).endsWith(" ");
        }
    }

    @Test
    void aCutWithoutAWordEndFallsAtTheLimitButNeverInsideASurrogatePair() {
        assertThat(TextChunk.cut("abc def ghi", 6)).isEqualTo(4);
        assertThat(TextChunk.cut("abc,def", 6)).isEqualTo(4);
        assertThat(TextChunk.cut("中文字符", 2)).isEqualTo(2);
        assertThat(TextChunk.cut("abcdefgh", 5)).isEqualTo(5);
        assertThat(TextChunk.cut("abcd\uD83D\uDE00xyz", 5)).isEqualTo(4);
    }

    @Test
    void readsADirectoryRecursivelyInSortedOrder() throws IOException {
        Files.createDirectories(dir.resolve("b/c"));
        Files.writeString(dir.resolve("b/c/z.txt"), "zed");
        Files.writeString(dir.resolve("b/a.txt"), "aye");
        Files.writeString(dir.resolve("a.txt"), "x\n\ny");
        Files.writeString(dir.resolve("empty.txt"), "");
        TextCorpus corpus = TextCorpus.open(List.of(dir), UTF_8);
        List<Doc> docs = documents(corpus, TextChunk.MAX_CHARS);
        assertThat(docs).extracting(Doc::text).containsExactly("x", "y", "aye", "zed");
        assertThat(docs)
                .extracting(Doc::source)
                .containsExactly(
                        dir.resolve("a.txt"), dir.resolve("a.txt"), dir.resolve("b/a.txt"), dir.resolve("b/c/z.txt"));
        assertThat(corpus.validate()).isEqualTo(4);
    }

    @Test
    void validateHashesEachDocumentAsAZeroByteAndItsText() throws Exception {
        Path f = Files.writeString(dir.resolve("a.txt"), "one\n\n two \n\n\nthree");
        MessageDigest got = MessageDigest.getInstance("SHA-256");
        assertThat(TextCorpus.open(List.of(f), UTF_8, 2).validate(got)).isEqualTo(3);
        MessageDigest expected = MessageDigest.getInstance("SHA-256");
        for (String d : List.of("one", "two", "three")) {
            expected.update((byte) 0);
            expected.update(d.getBytes(UTF_8));
        }
        assertThat(got.digest()).isEqualTo(expected.digest());
    }

    @Test
    void bytesThatAreNotUtf8AreAnErrorNamingTheFileOffsetAndLine() throws IOException {
        // "Café" in Latin-1 on the second line: byte 0xE9 at offset 12.
        Path latin1 = dir.resolve("latin1.txt");
        Files.write(latin1, "Line one\nCaf\u00e9 au lait\n".getBytes(StandardCharsets.ISO_8859_1));
        TextCorpus corpus = TextCorpus.open(List.of(latin1), UTF_8);
        assertThatThrownBy(corpus::validate)
                .isInstanceOf(IOException.class)
                .hasMessage(
                        latin1 + " is not UTF-8 text: byte 0xE9 at offset 12 (line 2) is not a valid UTF-8 sequence;"
                                + " convert the file to UTF-8, or name its encoding with --encoding (e.g. --encoding latin-1)");
        assertThatThrownBy(() -> corpus.chunks().hasNext())
                .isInstanceOf(UncheckedIOException.class)
                .hasMessageContaining("offset 12 (line 2)");
        // Named, the encoding reads it.
        assertThat(texts(TextCorpus.open(List.of(latin1), TextCorpus.charset("latin-1")), TextChunk.MAX_CHARS))
                .containsExactly("Line one\nCaf\u00e9 au lait");

        Path cut = dir.resolve("cut.txt");
        Files.write(cut, new byte[] {'a', 'b', (byte) 0xC3});
        assertThatThrownBy(() -> TextCorpus.open(List.of(cut), UTF_8).validate())
                .isInstanceOf(IOException.class)
                .hasMessageContaining(
                        "byte 0xC3 at offset 2 (line 1) is an incomplete UTF-8 character at the end of the file");
    }

    @Test
    void anInvalidByteAfterManyBlocksIsFoundAtItsOffset() throws IOException {
        byte[] good = "a line of text\n".getBytes(UTF_8);
        int lines = 3 * TextFileReader.BLOCK / good.length + 7;
        byte[] bytes = new byte[lines * good.length + 1];
        for (int i = 0; i < lines; i++) {
            System.arraycopy(good, 0, bytes, i * good.length, good.length);
        }
        bytes[bytes.length - 1] = (byte) 0xFF;
        Path f = dir.resolve("late.txt");
        Files.write(f, bytes);
        assertThatThrownBy(() -> TextCorpus.open(List.of(f), UTF_8).validate())
                .isInstanceOf(IOException.class)
                .hasMessageContaining("byte 0xFF at offset " + (bytes.length - 1) + " (line " + (lines + 1) + ")");
    }

    @Test
    void anUnknownEncodingIsAClearError() {
        assertThat(TextCorpus.charset("latin1")).isEqualTo(StandardCharsets.ISO_8859_1);
        assertThat(TextCorpus.charset("utf-16")).isEqualTo(StandardCharsets.UTF_16);
        assertThatThrownBy(() -> TextCorpus.charset("klingon"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("unknown --encoding 'klingon'");
    }

    @Test
    void aBinaryFileIsRefusedWhenNamedAndSkippedInADirectory() throws IOException {
        byte[] elf = new byte[4096];
        new Random(7).nextBytes(elf);
        System.arraycopy(new byte[] {0x7F, 'E', 'L', 'F', 2, 1, 1, 0}, 0, elf, 0, 8);
        Path binary = Files.write(dir.resolve("tool"), elf);
        assertThatThrownBy(() -> TextCorpus.open(List.of(binary), UTF_8))
                .isInstanceOf(IOException.class)
                .hasMessageStartingWith(binary + " looks like a binary file, not text (a NUL byte at character 7");
        // Control characters without NUL, more than a tenth of them.
        byte[] controls = new byte[1000];
        for (int i = 0; i < controls.length; i++) {
            controls[i] = (byte) (i % 4 == 0 ? 0x01 : 'x');
        }
        Path noisy = Files.write(dir.resolve("noisy.dat"), controls);
        assertThatThrownBy(() -> TextCorpus.open(List.of(noisy), UTF_8))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("25% control characters in its first 1000 bytes");
        Files.writeString(dir.resolve("notes.txt"), "Some text.");
        TextCorpus corpus = TextCorpus.open(List.of(dir), UTF_8);
        assertThat(corpus.files()).containsExactly(dir.resolve("notes.txt"));
        assertThat(corpus.skipped()).containsExactly(noisy, binary);
        // UTF-16 text has NUL bytes, so it looks binary unless its encoding is named.
        Path utf16 = Files.write(dir.resolve("utf16.txt"), "Hello\n\nworld".getBytes(StandardCharsets.UTF_16LE));
        assertThatThrownBy(() -> TextCorpus.open(List.of(utf16), UTF_8)).hasMessageContaining("--encoding");
        assertThat(texts(TextCorpus.open(List.of(utf16), StandardCharsets.UTF_16LE), TextChunk.MAX_CHARS))
                .containsExactly("Hello", "world");
    }

    @Test
    void anEmptyCorpusADirectoryOfBinariesOrAMissingFileIsAClearError() throws IOException {
        Path empty = dir.resolve("empty.txt");
        Files.writeString(empty, "\n  \n");
        assertThatThrownBy(() -> TextCorpus.open(List.of(empty), UTF_8).validate())
                .isInstanceOf(IOException.class)
                .hasMessage("no text in " + empty + " (1 file, all empty or whitespace only)");
        Path binaries = Files.createDirectories(dir.resolve("bin"));
        Files.write(binaries.resolve("a.bin"), new byte[] {1, 0, 2});
        assertThatThrownBy(() -> TextCorpus.open(List.of(binaries), UTF_8))
                .isInstanceOf(IOException.class)
                .hasMessage("no text in " + binaries + " (only binary files: " + binaries.resolve("a.bin") + ")");
        Path missing = dir.resolve("missing.txt");
        assertThatThrownBy(() -> TextCorpus.open(List.of(missing), UTF_8))
                .isInstanceOf(IOException.class)
                .hasMessageContaining(missing.toString())
                .hasMessageContaining("does not exist");
    }

    @Test
    void anUnreadableFileIsAClearErrorNamingIt() {
        // Root reads past permissions, so a directory read as a file stands in for an unreadable one.
        Path notAFile = dir.resolve("chapter.txt");
        assertThatThrownBy(() -> TextFileReader.binaryReason(Files.createDirectories(notAFile), UTF_8))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("cannot read the text file " + notAFile);
    }
}
