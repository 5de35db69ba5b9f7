package ai.batchtopk.extract;

import java.nio.CharBuffer;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;

/** Documents given as strings, cut into chunks as they are read ({@link TextSource#of}). */
final class InMemoryText implements TextSource {
    private final List<String> documents;
    private final int chunkChars;

    InMemoryText(List<String> documents, int chunkChars) {
        this.documents = List.copyOf(documents);
        this.chunkChars = chunkChars;
    }

    @Override
    public Iterator<TextChunk> chunks() {
        return new Iterator<>() {
            private int document;
            private int offset;

            @Override
            public boolean hasNext() {
                while (document < documents.size()
                        && offset == documents.get(document).length()) {
                    document++;
                    offset = 0;
                }
                return document < documents.size();
            }

            @Override
            public TextChunk next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                String text = documents.get(document);
                CharSequence rest = CharBuffer.wrap(text, offset, text.length()); // a view, not a copy
                int length = rest.length() > chunkChars ? TextChunk.cut(rest, chunkChars) : rest.length();
                TextChunk chunk = new TextChunk(document, null, text.substring(offset, offset + length));
                offset += length;
                return chunk;
            }
        };
    }
}
