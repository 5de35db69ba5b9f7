package ai.batchtopk.extract;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TextCorpusTest {
    @TempDir
    Path dir;

    @Test
    void splitsAtBlankLinesAndSkipsEmptyDocuments() throws IOException {
        Path f = dir.resolve("a.txt");
        Files.writeString(f, "First paragraph\nstill first.\n\n  \t\nSecond.\r\n\r\n\n   \n");
        List<TextCorpus.Document> docs = TextCorpus.read(List.of(f));
        assertThat(docs).extracting(TextCorpus.Document::text).containsExactly("First paragraph\nstill first.", "Second.");
        assertThat(docs).extracting(TextCorpus.Document::source).containsOnly(f);
    }

    @Test
    void readsADirectoryRecursivelyInSortedOrderAndDecodesLeniently() throws IOException {
        Files.createDirectories(dir.resolve("b/c"));
        Files.writeString(dir.resolve("b/c/z.txt"), "zed");
        Files.writeString(dir.resolve("b/a.txt"), "aye");
        Files.write(dir.resolve("a.txt"), new byte[] {'x', (byte) 0xff, 'y'});
        Files.writeString(dir.resolve("empty.txt"), "");
        List<TextCorpus.Document> docs = TextCorpus.read(List.of(dir));
        assertThat(docs).extracting(TextCorpus.Document::text).containsExactly("x\uFFFDy", "aye", "zed");
    }

    @Test
    void anEmptyCorpusOrAMissingFileIsAClearError() throws IOException {
        Path empty = dir.resolve("empty.txt");
        Files.writeString(empty, "\n  \n");
        assertThatThrownBy(() -> TextCorpus.read(List.of(empty))).isInstanceOf(IOException.class)
                .hasMessageContaining("no text in " + empty);
        Path missing = dir.resolve("missing.txt");
        assertThatThrownBy(() -> TextCorpus.read(List.of(missing))).isInstanceOf(IOException.class)
                .hasMessageContaining(missing.toString()).hasMessageContaining("does not exist");
    }

    @Test
    void anUnreadableFileIsAClearErrorNamingIt() throws IOException {
        // Root reads past permissions, so a directory read as a file stands in for an unreadable one.
        Path notAFile = Files.createDirectories(dir.resolve("chapter.txt"));
        assertThatThrownBy(() -> TextCorpus.readLenient(notAFile)).isInstanceOf(IOException.class)
                .hasMessageContaining("cannot read the text file " + notAFile);
    }
}
