package ai.batchtopk.extract;

import java.util.Iterator;
import java.util.List;

/**
 * Text for an {@link Extractor}: documents handed over in chunks ({@link TextChunk}), which can be read
 * again from the start (a training run passes over its text once per epoch).
 */
public interface TextSource {
    /** A new pass over the documents, from the first. */
    Iterator<TextChunk> chunks();

    /**
     * Documents given in memory, each string one document (not split at blank lines), numbered by their
     * index in the list; an empty one has no chunk.
     */
    static TextSource of(List<String> documents) {
        return new InMemoryText(documents, TextChunk.MAX_CHARS);
    }
}
