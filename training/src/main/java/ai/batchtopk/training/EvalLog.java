package ai.batchtopk.training;

import ai.batchtopk.EvalResult;
import ai.batchtopk.io.Json;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code eval.jsonl}: one JSON object per evaluation on the held-out data ({@code --eval-data}):
 * step, tokens (trained on so far), nmse, explained_variance, l0, dead_fraction, eval_tokens. Flushed
 * line by line, like {@link MetricsLog}.
 */
final class EvalLog implements AutoCloseable {
    static final String FILE = "eval.jsonl";

    private final BufferedWriter writer;

    private EvalLog(BufferedWriter writer) {
        this.writer = writer;
    }

    static EvalLog open(Path file, boolean append) throws IOException {
        return new EvalLog(Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                StandardOpenOption.WRITE, append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING));
    }

    void write(long step, long tokens, EvalResult r) throws IOException {
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("step", step);
        line.put("tokens", tokens);
        line.put("nmse", MetricsLog.finite(r.nmse()));
        MetricsLog.putPrefixNmse(line, r);
        line.put("explained_variance", MetricsLog.finite(r.explainedVariance()));
        line.put("l0", MetricsLog.finite(r.l0()));
        line.put("dead_fraction", MetricsLog.finite(r.deadFraction()));
        line.put("eval_tokens", r.tokens());
        writer.write(Json.write(line));
        writer.newLine();
        writer.flush();
    }

    @Override
    public void close() throws IOException {
        writer.close();
    }
}
