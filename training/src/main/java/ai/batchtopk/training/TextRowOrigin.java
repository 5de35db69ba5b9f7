package ai.batchtopk.training;

import ai.batchtopk.extract.ActivationBlock;
import ai.batchtopk.extract.Extractor;
import ai.batchtopk.extract.ExtractorConfig;
import ai.batchtopk.extract.TextCorpus;
import java.io.IOException;
import java.util.Iterator;
import java.util.List;

/**
 * Where a row extracted from text ({@code train --text}) came from: its token, document and file. The
 * rows of a pass are not kept, so the text is extracted again, with an extractor of its own (the run's
 * may be busy in the prefetch thread), up to the row: slow, but only ever done for an error message.
 */
final class TextRowOrigin implements RowOrigin {
    private final ExtractorConfig config;
    private final List<TextCorpus.Document> documents;

    TextRowOrigin(ExtractorConfig config, List<TextCorpus.Document> documents) {
        this.config = config;
        this.documents = List.copyOf(documents);
    }

    @Override
    public String describe(DataPosition start, long k) {
        String fallback = "row " + (start.row() + k) + " of pass " + start.epoch() + " over the text";
        List<String> texts = documents.stream().map(TextCorpus.Document::text).toList();
        try (Extractor extractor = Extractor.open(config)) {
            long target = start.row() + k;
            // A batch may run over the end of a pass into the next one: then the row is that far into it.
            while (true) {
                long seen = 0;
                Iterator<ActivationBlock> blocks = extractor.extract(texts);
                while (blocks.hasNext()) {
                    ActivationBlock block = blocks.next();
                    if (target < seen + block.rows()) {
                        int i = (int) (target - seen);
                        return describe(block.documents()[i], block.positions()[i], block.tokens().get(i));
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

    private String describe(int document, int position, String token) {
        TextCorpus.Document doc = documents.get(document);
        int inFile = 0;
        for (int d = 0; d < document; d++) {
            if (documents.get(d).source().equals(doc.source())) {
                inFile++;
            }
        }
        return "token '" + token + "' (position " + position + ") of document " + inFile + " of " + doc.source()
                + " (documents are split at blank lines and counted from 0)";
    }
}
