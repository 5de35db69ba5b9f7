package ai.batchtopk.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TextFilesTest {
    @TempDir
    Path dir;

    @Test
    void readsUtf8TextAndLines() throws IOException {
        Path file = dir.resolve("a.tsv");
        Files.writeString(file, "0\t0\tcafé\r\n0\t1\t日本\n0\t2\tlast", StandardCharsets.UTF_8);
        assertThat(TextFiles.readString(file)).isEqualTo("0\t0\tcafé\r\n0\t1\t日本\n0\t2\tlast");
        assertThat(TextFiles.readLines(file, Long.MAX_VALUE)).containsExactly("0\t0\tcafé", "0\t1\t日本", "0\t2\tlast");
        assertThat(TextFiles.readLines(file, 2)).containsExactly("0\t0\tcafé", "0\t1\t日本");
        Files.writeString(file, "");
        assertThat(TextFiles.readLines(file, Long.MAX_VALUE)).isEmpty();
    }

    @Test
    void invalidUtf8IsAnErrorNamingTheFileTheLineAndTheByte() throws IOException {
        Path file = dir.resolve("tokens.tsv");
        // "Café" in Latin-1 on line 2: the JDK's readers would say only "Input length = 1".
        Files.write(file, new byte[] {'a', '\n', 'C', 'a', 'f', (byte) 0xE9, '\n', 'b', '\n'});
        assertThatThrownBy(() -> TextFiles.readLines(file, Long.MAX_VALUE))
                .isInstanceOf(MalformedFileException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining("not valid UTF-8")
                .hasMessageContaining("line 2, byte offset 5 (0xE9)");
        assertThatThrownBy(() -> TextFiles.readString(file))
                .isInstanceOf(MalformedFileException.class)
                .hasMessageContaining("line 2, byte offset 5 (0xE9)");
        // Lines before the bad one can still be read.
        assertThat(TextFiles.readLines(file, 1)).containsExactly("a");
    }

    @Test
    void aDirectoryIsNamed() {
        assertThatThrownBy(() -> TextFiles.readString(dir))
                .isInstanceOf(FileSystemException.class)
                .hasMessageContaining(dir.toString())
                .hasMessageContaining("is a directory");
        assertThatThrownBy(() -> TextFiles.readLines(dir, 1))
                .isInstanceOf(FileSystemException.class)
                .hasMessageContaining(dir.toString())
                .hasMessageContaining("is a directory");
    }
}
