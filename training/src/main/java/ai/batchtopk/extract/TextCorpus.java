package ai.batchtopk.extract;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Documents read from text files: each file is split into documents at blank lines (paragraphs);
 * whitespace-only documents are skipped. A directory is read recursively, its regular files in sorted
 * path order. Files are decoded as UTF-8 leniently (malformed bytes become U+FFFD).
 */
public final class TextCorpus {
    /** One paragraph and the file it came from. */
    public record Document(Path source, String text) {}

    private static final Pattern BLANK_LINE = Pattern.compile("\\R[ \\t\\x0B\\f]*\\R");

    private TextCorpus() {}

    /**
     * The documents of the files and directories, in the order given (a directory's files sorted).
     *
     * @throws IOException naming the path, if one does not exist or cannot be read, or if no document
     *     at all was found
     */
    public static List<Document> read(List<Path> sources) throws IOException {
        if (sources.isEmpty()) {
            throw new IOException("no text source given");
        }
        List<Document> documents = new ArrayList<>();
        int files = 0;
        for (Path source : sources) {
            for (Path file : files(source)) {
                files++;
                for (String paragraph : paragraphs(readLenient(file))) {
                    documents.add(new Document(file, paragraph));
                }
            }
        }
        if (documents.isEmpty()) {
            throw new IOException("no text in " + describe(sources) + " (" + files + " file" + (files == 1 ? "" : "s")
                    + ", all empty or whitespace only)");
        }
        return documents;
    }

    /** The regular files of a source: the file itself, or a directory's files, recursively and sorted. */
    static List<Path> files(Path source) throws IOException {
        if (Files.isRegularFile(source)) {
            return List.of(source);
        }
        if (!Files.exists(source)) {
            throw new IOException("text source " + source + " does not exist");
        }
        if (!Files.isDirectory(source)) {
            throw new IOException("text source " + source + " is neither a regular file nor a directory");
        }
        try (Stream<Path> walk = Files.walk(source)) {
            return walk.filter(Files::isRegularFile).sorted().toList();
        } catch (IOException | java.io.UncheckedIOException e) {
            throw new IOException("cannot list the text directory " + source + ": " + e.getMessage(), e);
        }
    }

    /** A file's text, UTF-8 with malformed or unmappable bytes replaced. */
    static String readLenient(Path file) throws IOException {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new IOException("cannot read the text file " + file + ": " + e, e);
        }
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPLACE)
                    .onUnmappableCharacter(CodingErrorAction.REPLACE)
                    .decode(ByteBuffer.wrap(bytes))
                    .toString();
        } catch (CharacterCodingException e) {
            throw new IllegalStateException("a replacing decoder threw", e);
        }
    }

    /** The paragraphs of a text: split at blank lines, stripped, whitespace-only ones dropped. */
    static List<String> paragraphs(String text) {
        List<String> out = new ArrayList<>();
        for (String part : BLANK_LINE.split(text)) {
            String p = part.strip();
            if (!p.isEmpty()) {
                out.add(p);
            }
        }
        return out;
    }

    private static String describe(List<Path> sources) {
        List<String> names = sources.stream().map(Path::toString).toList();
        return String.join(", ", names);
    }
}
