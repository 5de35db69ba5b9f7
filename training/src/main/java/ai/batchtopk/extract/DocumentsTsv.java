package ai.batchtopk.extract;

import java.io.BufferedWriter;
import java.io.Closeable;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Iterator;

/**
 * Writes {@code documents.tsv} as an extraction streams: {@code doc<TAB>source file<TAB>first 80
 * characters} for every document up to the last one that has rows. The heads are taken from the chunks
 * on their way to the extractor ({@link #watch}) and held only until written, so memory is bounded by
 * the documents the extractor has read ahead.
 */
final class DocumentsTsv implements Closeable {
    private static final int HEAD_CODE_POINTS = 80;

    private record Head(int document, Path source, StringBuilder text) {}

    private final BufferedWriter out;
    private final ArrayDeque<Head> waiting = new ArrayDeque<>();
    private int seen;

    DocumentsTsv(Path file) throws IOException {
        out = Files.newBufferedWriter(file, StandardCharsets.UTF_8);
    }

    /** {@code chunks}, noting the head of each document as it passes. */
    Iterator<TextChunk> watch(Iterator<TextChunk> chunks) {
        return new Iterator<>() {
            @Override
            public boolean hasNext() {
                return chunks.hasNext();
            }

            @Override
            public TextChunk next() {
                TextChunk chunk = chunks.next();
                Head last = waiting.peekLast();
                if (last == null || last.document() != chunk.document()) {
                    last = new Head(chunk.document(), chunk.source(), new StringBuilder());
                    waiting.add(last);
                    seen++;
                }
                StringBuilder head = last.text();
                int missing = HEAD_CODE_POINTS - head.codePointCount(0, head.length());
                if (missing > 0) {
                    String t = chunk.text();
                    head.append(
                            t,
                            0,
                            t.codePointCount(0, t.length()) > missing ? t.offsetByCodePoints(0, missing) : t.length());
                }
                return chunk;
            }
        };
    }

    /**
     * Writes the lines of the documents before {@code document} (all their chunks have passed), and with
     * {@code inclusive} that of {@code document} too (at the end of the extraction).
     */
    void writeUpTo(int document, boolean inclusive) throws IOException {
        while (!waiting.isEmpty()
                && (waiting.peek().document() < document
                        || (inclusive && waiting.peek().document() == document))) {
            Head h = waiting.poll();
            out.write(h.document() + "\t" + ExtractCommand.escape(String.valueOf(h.source())) + "\t"
                    + ExtractCommand.escape(h.text().toString()) + "\n");
        }
    }

    /** The number of documents whose chunks have passed. */
    int seen() {
        return seen;
    }

    @Override
    public void close() throws IOException {
        out.close();
    }
}
