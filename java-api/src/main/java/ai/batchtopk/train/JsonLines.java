package ai.batchtopk.train;

import ai.batchtopk.io.JsonCodec;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A JSON-lines file written as a run goes ({@link MetricsLog}, {@link EvalLog}): one object per line, each
 * flushed as it is written, so the file can be followed ({@code tail -f}) and a killed run keeps every line
 * it wrote.
 */
final class JsonLines implements AutoCloseable {
    private final BufferedWriter writer;

    private JsonLines(BufferedWriter writer) {
        this.writer = writer;
    }

    /** Opens the file, appending to it (a run resumed in place) or starting it afresh. */
    static JsonLines open(Path file, boolean append) throws IOException {
        return new JsonLines(Files.newBufferedWriter(
                file,
                StandardCharsets.UTF_8,
                StandardOpenOption.CREATE,
                StandardOpenOption.WRITE,
                append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING));
    }

    /** Writes {@code line} (a record) as one JSON object and flushes it. */
    void write(Object line) throws IOException {
        writer.write(JsonCodec.write(line));
        writer.newLine();
        writer.flush();
    }

    @Override
    public void close() throws IOException {
        writer.close();
    }
}
