package ai.batchtopk.training;

import ai.batchtopk.data.DataPosition;
import ai.batchtopk.data.RowOrigin;
import ai.batchtopk.extract.ActivationBlock;
import ai.batchtopk.extract.Extractor;
import ai.batchtopk.extract.ExtractorConfig;
import ai.batchtopk.extract.TextChunk;
import ai.batchtopk.extract.TextSource;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;

/**
 * Where a row extracted from text ({@code train --text}) came from: its token, document and file. The
 * rows of a pass are not kept, so the text is streamed and extracted again, with an extractor of its own
 * (the run's may be busy in the prefetch thread), up to the row: slow, but only ever done for an error
 * message.
 */
final class TextRowOrigin implements RowOrigin {
    private final ExtractorConfig config;
    private final TextSource text;

    TextRowOrigin(ExtractorConfig config, TextSource text) {
        this.config = config;
        this.text = text;
    }

    @Override
    public String describe(DataPosition start, long k) {
        String fallback = "row " + (start.row() + k) + " of pass " + start.epoch() + " over the text";
        try (Extractor extractor = Extractor.open(config)) {
            long target = start.row() + k;
            // A batch may run over the end of a pass into the next one: then the row is that far into it.
            while (true) {
                long seen = 0;
                DocumentSources sources = new DocumentSources(text.chunks());
                Iterator<ActivationBlock> blocks = extractor.extract(sources);
                while (blocks.hasNext()) {
                    ActivationBlock block = blocks.next();
                    if (target < seen + block.rows()) {
                        int i = (int) (target - seen);
                        return describe(
                                sources,
                                block.documents()[i],
                                block.positions()[i],
                                block.tokens().get(i));
                    }
                    seen += block.rows();
                }
                if (seen == 0 || target < seen) {
                    return fallback;
                }
                target -= seen;
            }
        } catch (IOException | RuntimeException e) {
            return fallback;
        }
    }

    private static String describe(DocumentSources sources, int document, int position, String token) {
        Path source = sources.source(document);
        String where = source == null ? "the text given" : source.toString();
        return "token '" + token + "' (position " + position + ") of document " + sources.indexInSource(document)
                + " of " + where + " (documents are split at blank lines and counted from 0)";
    }

    /** Passes the chunks on, noting each document's file and its index among that file's documents. */
    private static final class DocumentSources implements Iterator<TextChunk> {
        private final Iterator<TextChunk> chunks;
        private final List<Path> sources = new ArrayList<>();
        private final List<Integer> indexInSource = new ArrayList<>();

        DocumentSources(Iterator<TextChunk> chunks) {
            this.chunks = chunks;
        }

        @Override
        public boolean hasNext() {
            return chunks.hasNext();
        }

        @Override
        public TextChunk next() {
            TextChunk chunk = chunks.next();
            while (sources.size() <= chunk.document()) {
                int index = 0;
                for (int d = sources.size() - 1; d >= 0; d--) {
                    if (Objects.equals(sources.get(d), chunk.source())) {
                        index = indexInSource.get(d) + 1;
                        break;
                    }
                }
                sources.add(chunk.source());
                indexInSource.add(index);
            }
            return chunk;
        }

        Path source(int document) {
            return sources.get(document);
        }

        int indexInSource(int document) {
            return indexInSource.get(document);
        }
    }
}
