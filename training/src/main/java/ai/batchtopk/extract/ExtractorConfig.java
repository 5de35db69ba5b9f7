package ai.batchtopk.extract;

import java.util.Objects;

/**
 * What an {@link Extractor} captures and how it batches.
 *
 * @param model the transformer
 * @param layer the layer, 0-based ({@code 0..model.layers()-1})
 * @param site the residual stream after the layer, or the MLP activations inside it
 * @param maxLength tokens per ONNX sequence, [CLS] and [SEP] included; longer documents are cut into
 *     windows of {@code maxLength - 2} wordpieces, with no overlap, so that every token is seen once
 * @param batchSize sequences per ONNX run
 * @param keepSpecialTokens whether the rows of [CLS] and [SEP] are kept (by default they are dropped,
 *     as SAE libraries drop BOS-like tokens; kept ones have position -1)
 * @param threads ONNX Runtime intra-op threads; 0 lets ONNX Runtime choose (one per core)
 */
public record ExtractorConfig(
        Model model, int layer, Site site, int maxLength, int batchSize, boolean keepSpecialTokens, int threads) {
    public static final int DEFAULT_MAX_LENGTH = 128;
    public static final int DEFAULT_BATCH_SIZE = 32;

    public ExtractorConfig {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(site, "site");
        model.checkLayer(layer);
        if (maxLength < 3 || maxLength > 512) {
            throw new IllegalArgumentException("max length " + maxLength + " must be in 3..512 (" + model.label()
                    + " has 512 positions; two go to [CLS] and [SEP])");
        }
        if (batchSize < 1) {
            throw new IllegalArgumentException("batch size " + batchSize + " must be at least 1");
        }
        if (threads < 0) {
            throw new IllegalArgumentException("threads " + threads + " must not be negative");
        }
    }

    /** The defaults: length 128, batch 32, [CLS]/[SEP] dropped, ONNX Runtime's thread count. */
    public static ExtractorConfig of(Model model, int layer, Site site) {
        return new ExtractorConfig(model, layer, site, DEFAULT_MAX_LENGTH, DEFAULT_BATCH_SIZE, false, 0);
    }

    public ExtractorConfig withMaxLength(int value) {
        return new ExtractorConfig(model, layer, site, value, batchSize, keepSpecialTokens, threads);
    }

    public ExtractorConfig withBatchSize(int value) {
        return new ExtractorConfig(model, layer, site, maxLength, value, keepSpecialTokens, threads);
    }

    public ExtractorConfig withKeepSpecialTokens(boolean value) {
        return new ExtractorConfig(model, layer, site, maxLength, batchSize, value, threads);
    }

    public ExtractorConfig withThreads(int value) {
        return new ExtractorConfig(model, layer, site, maxLength, batchSize, keepSpecialTokens, value);
    }

    /** The width of a captured row. */
    public int width() {
        return model.width(site);
    }

    /** The graph name of the captured tensor. */
    public String hookName() {
        return model.hookName(layer, site);
    }
}
