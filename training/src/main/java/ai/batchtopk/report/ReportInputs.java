package ai.batchtopk.report;

import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * What a report is made from, besides the run directory. Null paths take their defaults.
 *
 * @param saeDir the SAELens directory of the trained SAE (default: the run directory)
 * @param metrics the training log (default: {@code RUN/metrics.jsonl}; required)
 * @param eval evaluation lines (default: {@code RUN/eval.jsonl} when it exists)
 * @param data activation .npy files or directories of shards to encode a sample of (empty: the files
 *     named by the SAE's {@code metadata.dataset_path} when they all exist; none: no histograms)
 * @param tokens a {@code tokens.tsv} giving the text of each data row (default: a {@code tokens.tsv}
 *     in a data directory or beside a data file)
 * @param sampleTokens how many rows, from the first, to encode
 * @param latents how many latents to show in context
 * @param seed picks those latents
 */
public record ReportInputs(
        Path saeDir, Path metrics, Path eval, List<Path> data, Path tokens, long sampleTokens, int latents, long seed) {
    public static final long DEFAULT_SAMPLE_TOKENS = 16384;
    public static final int DEFAULT_LATENTS = 24;

    public ReportInputs {
        data = List.copyOf(Objects.requireNonNull(data, "data"));
        if (sampleTokens <= 0) {
            throw new IllegalArgumentException("sampleTokens must be positive, got " + sampleTokens);
        }
        if (latents < 0) {
            throw new IllegalArgumentException("latents must be at least 0, got " + latents);
        }
    }

    /** Every default: the run directory is the SAE, its metrics.jsonl and eval.jsonl, its dataset_path. */
    public static ReportInputs defaults() {
        return new ReportInputs(null, null, null, List.of(), null, DEFAULT_SAMPLE_TOKENS, DEFAULT_LATENTS, 0);
    }

    public ReportInputs withSae(Path dir) {
        return new ReportInputs(dir, metrics, eval, data, tokens, sampleTokens, latents, seed);
    }

    public ReportInputs withMetrics(Path file) {
        return new ReportInputs(saeDir, file, eval, data, tokens, sampleTokens, latents, seed);
    }

    public ReportInputs withEval(Path file) {
        return new ReportInputs(saeDir, metrics, file, data, tokens, sampleTokens, latents, seed);
    }

    public ReportInputs withData(List<Path> files) {
        return new ReportInputs(saeDir, metrics, eval, files, tokens, sampleTokens, latents, seed);
    }

    public ReportInputs withTokens(Path file) {
        return new ReportInputs(saeDir, metrics, eval, data, file, sampleTokens, latents, seed);
    }

    public ReportInputs withSampleTokens(long n) {
        return new ReportInputs(saeDir, metrics, eval, data, tokens, n, latents, seed);
    }

    public ReportInputs withLatents(int n) {
        return new ReportInputs(saeDir, metrics, eval, data, tokens, sampleTokens, n, seed);
    }

    public ReportInputs withSeed(long s) {
        return new ReportInputs(saeDir, metrics, eval, data, tokens, sampleTokens, latents, s);
    }
}
