package ai.batchtopk.extract;

import java.nio.file.Path;
import java.util.Objects;

/**
 * A piece of one document's text. Documents reach the tokenizer in chunks of at most
 * {@link #MAX_CHARS} characters, so that a document of any length (a 50 MB file without a blank line)
 * is tokenized and windowed in bounded memory.
 *
 * <p>A chunk ends, wherever the document allows, just after a space, tab, line break, punctuation mark
 * or CJK ideograph: the model's tokenizer (BERT normalizer and pre-tokenizer) ends a word at each of
 * these, so the wordpieces of the chunks, one after the other, are exactly those of the whole document.
 * Only a run of more than {@code MAX_CHARS} characters with none of them is cut inside; such a word is
 * longer than WordPiece's 100 characters and one {@code [UNK]} whole, so it becomes one {@code [UNK]}
 * per piece.
 *
 * @param document the document's index, from 0 in reading order; a document's chunks are consecutive
 * @param source the file the document was read from, or null for text given in memory
 * @param text a non-empty part of the document; a document's chunks concatenated are its text
 */
public record TextChunk(int document, Path source, String text) {
    /** The longest chunk, in chars. */
    public static final int MAX_CHARS = 1 << 16;

    public TextChunk {
        Objects.requireNonNull(text, "text");
        if (document < 0) {
            throw new IllegalArgumentException("document index " + document + " must not be negative");
        }
    }

    /**
     * Where a chunk taken from the start of {@code text} ends, for text longer than {@code max}: just
     * after the last word end within the first {@code max} chars, or else at {@code max} (moved back one
     * so as not to split a surrogate pair).
     */
    static int cut(CharSequence text, int max) {
        for (int i = max - 1; i > 0; i--) {
            if (endsWord(text.charAt(i))) {
                return i + 1;
            }
        }
        return Character.isHighSurrogate(text.charAt(max - 1)) && max > 1 ? max - 1 : max;
    }

    /** Whether the BERT pre-tokenizer always ends a word after {@code c}: whitespace, punctuation, CJK. */
    private static boolean endsWord(char c) {
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            return true;
        }
        if (c < 128) {
            // BERT counts every non-alphanumeric printable ASCII character as punctuation.
            return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
        }
        return switch (Character.getType(c)) {
            case Character.CONNECTOR_PUNCTUATION,
                    Character.DASH_PUNCTUATION,
                    Character.START_PUNCTUATION,
                    Character.END_PUNCTUATION,
                    Character.INITIAL_QUOTE_PUNCTUATION,
                    Character.FINAL_QUOTE_PUNCTUATION,
                    Character.OTHER_PUNCTUATION -> true;
            default -> (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0xF900 && c <= 0xFAFF);
        };
    }
}
