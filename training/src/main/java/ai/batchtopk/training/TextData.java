package ai.batchtopk.training;

import ai.batchtopk.data.DataFingerprint;
import ai.batchtopk.data.DataPosition;
import ai.batchtopk.data.DataSource;
import ai.batchtopk.data.RowOrigin;
import ai.batchtopk.data.RowStream;
import ai.batchtopk.data.TrainingData;
import ai.batchtopk.extract.Extractor;
import ai.batchtopk.extract.ExtractorConfig;
import ai.batchtopk.extract.TextCorpus;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Collectors;

/**
 * {@code train --text}: text run through a model as training goes, its activations at the hook streamed
 * into the SAEs in document order ({@link ExtractedBatches}; extraction runs in the prefetch thread).
 *
 * <p>The row count of text is only known after a whole pass, so what a checkpoint's position refers to
 * is a fingerprint of the documents and the extraction settings: a resume over changed text is refused.
 */
record TextData(List<Path> text, Charset encoding, ExtractorConfig config) implements DataSource {
    static final String ORDER = "text-sequential";

    @Override
    public TrainingData open(long batchSize, Arena arena, Consumer<String> warnings) throws IOException {
        String sources = text.stream().map(Path::toString).collect(Collectors.joining(", "));
        MessageDigest digest = digest(config);
        TextCorpus corpus;
        long documents;
        try {
            corpus = TextCorpus.open(text, encoding);
            documents = corpus.validate(digest); // one streamed pass: checks the text, hashes its documents
        } catch (IOException e) {
            throw new CommandFailure("--text " + sources + ": " + e.getMessage(), e);
        }
        if (!corpus.skipped().isEmpty()) {
            warnings.accept("--text: skipped " + corpus.skipped().size() + " binary file(s): "
                    + TextCorpus.names(corpus.skipped()));
        }
        DataFingerprint fingerprint = DataFingerprint.ofText("--text", text);
        Extractor extractor = Extractor.open(config);
        String describe = documents + " documents of " + sources + " through "
                + config.model().modelName() + " " + config.hookName() + ", d = " + config.width();
        long rows = java.nio.ByteBuffer.wrap(digest.digest()).getLong() & Long.MAX_VALUE;
        return new TrainingData() {
            @Override
            public long width() {
                return config.width();
            }

            @Override
            public long rows() {
                return rows;
            }

            @Override
            public String describe() {
                return describe;
            }

            @Override
            public String order() {
                return ORDER;
            }

            @Override
            public RowStream stream(DataPosition start, long seed) {
                try {
                    return new ExtractedBatches(extractor, corpus, batchSize, start, Arena.ofAuto());
                } catch (IllegalArgumentException e) {
                    throw new CommandFailure("--text " + sources + ": " + e.getMessage(), e);
                }
            }

            @Override
            public RowOrigin origin(long seed) {
                return new TextRowOrigin(config, corpus);
            }

            @Override
            public DataFingerprint fingerprint() {
                return fingerprint;
            }

            @Override
            public void close() {
                extractor.close();
            }
        };
    }

    /** Text cannot be found again from run.json by the library alone: the command line resumes it. */
    @Override
    public Map<String, Object> toJson() {
        return null;
    }

    /**
     * A digest of the extraction settings, to which {@link TextCorpus#validate} adds the documents; its first
     * 63 bits are the "rows" of a text input.
     */
    private static MessageDigest digest(ExtractorConfig config) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update((config.model().label() + "|" + config.hookName() + "|" + config.maxLength() + "|"
                            + config.keepSpecialTokens())
                    .getBytes(StandardCharsets.UTF_8));
            return sha;
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
