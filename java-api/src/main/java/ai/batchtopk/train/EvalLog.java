package ai.batchtopk.train;

import ai.batchtopk.EvalResult;
import ai.batchtopk.io.JsonCodec;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * {@code eval.jsonl}: one JSON object per evaluation on the held-out data ({@code --eval-data}):
 * step, tokens (trained on so far), nmse, explained_variance, l0, dead_fraction, eval_tokens. Flushed
 * line by line, like {@link MetricsLog}.
 */
public final class EvalLog implements AutoCloseable {
    public static final String FILE = "eval.jsonl";

    private final BufferedWriter writer;

    private EvalLog(BufferedWriter writer) {
        this.writer = writer;
    }

    static EvalLog open(Path file, boolean append) throws IOException {
        return new EvalLog(Files.newBufferedWriter(
                file,
                StandardCharsets.UTF_8,
                StandardOpenOption.CREATE,
                StandardOpenOption.WRITE,
                append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING));
    }

    void write(long step, long tokens, EvalResult r) throws IOException {
        writer.write(JsonCodec.write(new EvalLine(
                step,
                tokens,
                MetricsLog.finite(r.nmse()),
                MetricsLog.prefixNmse(r),
                MetricsLog.finite(r.explainedVariance()),
                MetricsLog.finite(r.l0()),
                MetricsLog.finite(r.deadFraction()),
                r.tokens())));
        writer.newLine();
        writer.flush();
    }

    @Override
    public void close() throws IOException {
        writer.close();
    }
}
