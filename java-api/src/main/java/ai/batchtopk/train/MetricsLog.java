package ai.batchtopk.train;

import ai.batchtopk.EvalResult;
import ai.batchtopk.StepMetrics;
import ai.batchtopk.io.JsonCodec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * {@code metrics.jsonl}: one JSON object per logged step, flushed line by line ({@link JsonLines}).
 *
 * <p>Keys: those of {@link MetricsLine}. A value that is not finite (a diverged loss) is written as
 * null, since JSON has no NaN.
 */
public final class MetricsLog implements AutoCloseable {
    public static final String FILE = "metrics.jsonl";

    private final JsonLines lines;

    private MetricsLog(JsonLines lines) {
        this.lines = lines;
    }

    /** Opens the log, appending to it (a run resumed in place) or starting it afresh. */
    static MetricsLog open(Path file, boolean append) throws IOException {
        return new MetricsLog(JsonLines.open(file, append));
    }

    /**
     * Drops the lines of a log written after a checkpoint (a killed run logs past its last
     * checkpoint): every line whose "tokens" exceeds {@code tokens}, so the resumed run's lines follow
     * on without repeats. The file is rewritten atomically; lines that are not JSON are kept.
     */
    static void truncateAfter(Path file, long tokens) throws IOException {
        if (!Files.exists(file)) {
            return;
        }
        java.util.List<String> lines = ai.batchtopk.io.TextFiles.readLines(file, Long.MAX_VALUE);
        java.util.List<String> kept = new java.util.ArrayList<>();
        for (String text : lines) {
            if (text.isBlank()) {
                continue;
            }
            try {
                Long logged = JsonCodec.read(text, MetricsLine.class).tokens();
                if (logged != null && logged > tokens) {
                    continue;
                }
            } catch (IllegalArgumentException e) {
                // A line cut by the kill: drop it too.
                continue;
            }
            kept.add(text);
        }
        if (kept.size() != lines.size()) {
            ai.batchtopk.io.AtomicFiles.writeString(file, kept.isEmpty() ? "" : String.join("\n", kept) + "\n");
        }
    }

    /**
     * Writes one line.
     *
     * @param tokens tokens trained on since the SAE was created (earlier runs included)
     * @param tokensPerSecond throughput since the previous line
     * @param lr the learning rate of the step
     */
    void write(StepMetrics m, long tokens, double tokensPerSecond, double lr) throws IOException {
        lines.write(new MetricsLine(
                m.step(),
                tokens,
                finite(m.loss()),
                finite(m.mse()),
                finite(m.auxLoss()),
                finite(m.l0()),
                m.dead(),
                finite(m.theta()),
                finite(tokensPerSecond),
                finite(m.nmse()),
                finite(m.sparsityLoss()),
                finite(m.gradNorm()),
                finite(lr)));
    }

    public static Double finite(double value) {
        return Double.isFinite(value) ? value : null;
    }

    /** Adds {@code prefix_nmse} to an evaluation line when the SAE has prefixes (Matryoshka BatchTopK). */
    public static void putPrefixNmse(Map<String, Object> line, EvalResult r) {
        List<Double> prefixes = prefixNmse(r);
        if (prefixes != null) {
            line.put("prefix_nmse", prefixes);
        }
    }

    /** The prefixes' NMSE (not finite: null), or null when the SAE has no prefixes. */
    static List<Double> prefixNmse(EvalResult r) {
        return r.prefixNmse().isEmpty()
                ? null
                : r.prefixNmse().stream().map(MetricsLog::finite).toList();
    }

    @Override
    public void close() throws IOException {
        lines.close();
    }
}
