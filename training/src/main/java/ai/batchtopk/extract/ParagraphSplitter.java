package ai.batchtopk.extract;

/**
 * Cuts a stream of characters into documents at blank lines, and each document into chunks of at most
 * {@code maxChars} (see {@link TextChunk#cut}), holding no more than about one chunk at a time.
 *
 * <p>A blank line is two line breaks with only spaces or tabs between them; a line break is {@code \n},
 * {@code \r\n}, {@code \r}, a vertical tab, a form feed, U+0085, U+2028 or U+2029. A document is the
 * text between blank lines with the whitespace at its ends ({@link Character#isWhitespace}) removed;
 * a whitespace-only one is no document.
 */
final class ParagraphSplitter {
    /** Receives the chunks, in order. */
    interface Sink {
        /** One chunk; {@code first} when it starts a new document. */
        void chunk(String text, boolean first);
    }

    private final int maxChars;
    /** The current document's text not yet handed on. */
    private final StringBuilder text = new StringBuilder();
    /** Whitespace after {@code text}: part of the document only if more text follows. */
    private final StringBuilder space = new StringBuilder();

    private boolean inDocument;
    private boolean firstChunk;
    /** Line breaks since the last character other than a space or tab. */
    private int breaks;

    private boolean afterCarriageReturn;

    ParagraphSplitter(int maxChars) {
        if (maxChars < 2) {
            throw new IllegalArgumentException("chunks of " + maxChars + " chars are too short");
        }
        this.maxChars = maxChars;
    }

    /** Takes the next characters of the stream. */
    void accept(CharSequence chars, Sink sink) {
        for (int i = 0; i < chars.length(); i++) {
            char c = chars.charAt(i);
            boolean lineFeedOfCrLf = c == '\n' && afterCarriageReturn;
            afterCarriageReturn = c == '\r';
            if (isLineBreak(c) && !lineFeedOfCrLf && ++breaks >= 2) {
                endDocument(sink);
            } else if (Character.isWhitespace(c) || isLineBreak(c)) {
                if (!isLineBreak(c) && c != ' ' && c != '\t') {
                    breaks = 0;
                }
                if (inDocument) {
                    space.append(c);
                    if (space.length() > TextChunk.MAX_CHARS) {
                        // Whitespace without end: kept as text (the tokenizer ignores it) to bound memory.
                        keepSpace(sink);
                    }
                }
            } else {
                breaks = 0;
                if (!inDocument) {
                    inDocument = true;
                    firstChunk = true;
                }
                keepSpace(sink);
                text.append(c);
                if (text.length() >= maxChars) {
                    emit(TextChunk.cut(text, maxChars), sink);
                }
            }
        }
    }

    /** The end of the stream: hands on the last document's rest. */
    void finish(Sink sink) {
        endDocument(sink);
        breaks = 0;
        afterCarriageReturn = false;
    }

    private void endDocument(Sink sink) {
        if (inDocument && !text.isEmpty()) {
            emit(text.length(), sink);
        }
        inDocument = false;
        space.setLength(0);
    }

    private void keepSpace(Sink sink) {
        for (int i = 0; i < space.length(); i++) {
            text.append(space.charAt(i));
            if (text.length() >= maxChars) {
                emit(TextChunk.cut(text, maxChars), sink);
            }
        }
        space.setLength(0);
    }

    private void emit(int length, Sink sink) {
        sink.chunk(text.substring(0, length), firstChunk);
        firstChunk = false;
        text.delete(0, length);
    }

    private static boolean isLineBreak(char c) {
        return c == '\n' || c == '\r' || c == 0x0B || c == '\f' || c == 0x85 || c == 0x2028 || c == 0x2029;
    }
}
