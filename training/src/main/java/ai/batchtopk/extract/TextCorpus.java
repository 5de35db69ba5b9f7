package ai.batchtopk.extract;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.CharBuffer;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.stream.Stream;

/**
 * Documents read from text files, streamed: each file is split into documents at blank lines
 * (paragraphs, see {@link ParagraphSplitter}) and each document handed on in chunks
 * ({@link TextChunk}), so that memory stays bounded by a block of the file and a chunk of the document,
 * whatever their sizes, and a reader that stops early (at {@code --max-tokens}) reads no further.
 *
 * <p>A directory is read recursively, its regular files in sorted path order. Files are decoded strictly
 * in the corpus's encoding (UTF-8 by default): bytes that are not text are an error naming the file, the
 * byte offset and the line. A file whose first block looks binary ({@link TextFileReader#binaryReason})
 * is refused when it is named itself, and skipped when it is found in a directory ({@link #skipped()},
 * for the caller to warn about).
 */
public final class TextCorpus implements TextSource {
    private final List<Path> sources;
    private final List<Path> files;
    private final List<Path> skipped;
    private final Charset encoding;
    private final int chunkChars;

    private TextCorpus(List<Path> sources, List<Path> files, List<Path> skipped, Charset encoding, int chunkChars) {
        this.sources = sources;
        this.files = files;
        this.skipped = skipped;
        this.encoding = encoding;
        this.chunkChars = chunkChars;
    }

    /**
     * The text files of the sources, in the order given (a directory's files sorted), checked to exist and
     * to look like text. No file is read beyond its first block here.
     *
     * @throws IOException naming the path, if one does not exist or cannot be read, if a file named
     *     itself looks binary, or if no text file is left
     */
    public static TextCorpus open(List<Path> sources, Charset encoding) throws IOException {
        return open(sources, encoding, TextChunk.MAX_CHARS);
    }

    /** As {@link #open(List, Charset)}, with chunks of at most {@code chunkChars} (tests cut small ones). */
    static TextCorpus open(List<Path> sources, Charset encoding, int chunkChars) throws IOException {
        Objects.requireNonNull(encoding, "encoding");
        if (sources.isEmpty()) {
            throw new IOException("no text source given");
        }
        List<Path> files = new ArrayList<>();
        List<Path> skipped = new ArrayList<>();
        for (Path source : sources) {
            boolean named = Files.isRegularFile(source);
            for (Path file : files(source)) {
                String binary = TextFileReader.binaryReason(file, encoding);
                if (binary == null) {
                    files.add(file);
                } else if (named) {
                    throw new IOException(file + " looks like a binary file, not text (" + binary + "); if it is"
                            + " text in an encoding such as UTF-16, name it with --encoding");
                } else {
                    skipped.add(file);
                }
            }
        }
        if (files.isEmpty()) {
            throw new IOException("no text in " + names(sources) + " ("
                    + (skipped.isEmpty() ? "no files" : "only binary files: " + names(skipped)) + ")");
        }
        return new TextCorpus(List.copyOf(sources), List.copyOf(files), List.copyOf(skipped), encoding, chunkChars);
    }

    /** The charset of an {@code --encoding}: a Java name or alias, also with its hyphens left out ("latin-1"). */
    public static Charset charset(String name) {
        for (String candidate : List.of(name, name.replace("-", ""))) {
            try {
                return Charset.forName(candidate);
            } catch (IllegalArgumentException e) {
                // Unknown or illegal as given; try the next spelling.
            }
        }
        throw new IllegalArgumentException(
                "unknown --encoding '" + name + "' (e.g. UTF-8, latin-1, windows-1252, UTF-16)");
    }

    /** The text files, in reading order. */
    public List<Path> files() {
        return files;
    }

    /** The files of the directories given that looked binary and are not read. */
    public List<Path> skipped() {
        return skipped;
    }

    public Charset encoding() {
        return encoding;
    }

    /** The sources as given, comma-separated (for messages). */
    public String describe() {
        return names(sources);
    }

    /**
     * A pass over the documents from the first. Errors (a file that cannot be read or holds bytes that are
     * not text) are thrown by {@code hasNext()} as an {@link UncheckedIOException} whose message names the
     * file, the byte offset and the line.
     */
    @Override
    public Iterator<TextChunk> chunks() {
        return new Chunks();
    }

    /** As {@link #validate(MessageDigest)} with no digest. */
    public long validate() throws IOException {
        return validate(null);
    }

    /**
     * Reads every file through once, checking that it is text in the encoding, and counts the documents.
     * When {@code digest} is given, each document is fed to it as a 0 byte followed by its text in UTF-8.
     *
     * @throws IOException naming the file and where, for bytes that are not text; or if no file holds a
     *     document (all empty or whitespace only)
     */
    public long validate(MessageDigest digest) throws IOException {
        long documents = 0;
        try {
            for (Iterator<TextChunk> it = chunks(); it.hasNext(); ) {
                TextChunk chunk = it.next();
                if (chunk.document() == documents) {
                    documents++;
                    if (digest != null) {
                        digest.update((byte) 0);
                    }
                }
                if (digest != null) {
                    digest.update(chunk.text().getBytes(StandardCharsets.UTF_8));
                }
            }
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
        if (documents == 0) {
            throw noText();
        }
        return documents;
    }

    /** The error for files that hold no document at all. */
    IOException noText() {
        return new IOException("no text in " + describe() + " (" + files.size() + " file"
                + (files.size() == 1 ? "" : "s") + ", all empty or whitespace only)");
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
        } catch (IOException | UncheckedIOException e) {
            throw new IOException("cannot list the text directory " + source + ": " + e.getMessage(), e);
        }
    }

    /** Up to five paths, comma-separated, and how many more. */
    public static String names(List<Path> paths) {
        List<String> shown = paths.stream().limit(5).map(Path::toString).toList();
        return String.join(", ", shown) + (paths.size() > 5 ? " and " + (paths.size() - 5) + " more" : "");
    }

    /** The chunks of the files, one block of one file read at a time. */
    private final class Chunks implements Iterator<TextChunk> {
        private final ArrayDeque<TextChunk> ready = new ArrayDeque<>();
        private final CharBuffer block = CharBuffer.allocate(TextFileReader.BLOCK);
        private int nextFile;
        private Path file;
        private TextFileReader reader;
        private ParagraphSplitter splitter;
        private int documents;

        @Override
        public boolean hasNext() {
            while (ready.isEmpty()) {
                if (reader == null) {
                    if (nextFile == files.size()) {
                        return false;
                    }
                    file = files.get(nextFile++);
                    reader = new TextFileReader(file, encoding);
                    splitter = new ParagraphSplitter(chunkChars);
                }
                try {
                    if (reader.read(block)) {
                        splitter.accept(block, this::add);
                    } else {
                        splitter.finish(this::add);
                        reader = null;
                    }
                } catch (IOException e) {
                    throw new UncheckedIOException(e.getMessage(), e);
                }
            }
            return true;
        }

        @Override
        public TextChunk next() {
            if (!hasNext()) {
                throw new NoSuchElementException();
            }
            return ready.poll();
        }

        private void add(String text, boolean first) {
            if (first) {
                if (documents == Integer.MAX_VALUE) {
                    throw new IllegalStateException("more than " + Integer.MAX_VALUE + " documents in " + describe());
                }
                documents++;
            }
            ready.add(new TextChunk(documents - 1, file, text));
        }
    }
}
