package ai.batchtopk.train;

import ai.batchtopk.EvalResult;
import java.io.IOException;
import java.nio.file.Path;

/**
 * {@code eval.jsonl}: one JSON object per evaluation on the held-out data ({@code --eval-data}):
 * step, tokens (trained on so far), nmse, explained_variance, l0, dead_fraction, eval_tokens. Flushed
 * line by line, like {@link MetricsLog}.
 */
public final class EvalLog implements AutoCloseable {
    public static final String FILE = "eval.jsonl";

    private final JsonLines lines;

    private EvalLog(JsonLines lines) {
        this.lines = lines;
    }

    static EvalLog open(Path file, boolean append) throws IOException {
        return new EvalLog(JsonLines.open(file, append));
    }

    void write(long step, long tokens, EvalResult r) throws IOException {
        lines.write(new EvalLine(
                step,
                tokens,
                MetricsLog.finite(r.nmse()),
                MetricsLog.prefixNmse(r),
                MetricsLog.finite(r.explainedVariance()),
                MetricsLog.finite(r.l0()),
                MetricsLog.finite(r.deadFraction()),
                r.tokens()));
    }

    @Override
    public void close() throws IOException {
        lines.close();
    }
}
