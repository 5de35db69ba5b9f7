package ai.batchtopk.data;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.util.Map;
import java.util.function.Consumer;

/** Where a training run's rows come from, before it is opened: what a run specification names. */
public interface DataSource {
    /**
     * Opens the data for batches of {@code batchSize} rows.
     *
     * @param arena a shared arena for mappings and buffers (a prefetch thread reads them)
     * @param warnings where to say what was skipped or looks wrong without being an error
     * @throws DataException naming the file and the problem
     */
    TrainingData open(long batchSize, Arena arena, Consumer<String> warnings) throws IOException;

    /** How {@code TrainingRun.resume(dir)} finds the data again; null if it cannot (then resume with the source). */
    Map<String, Object> toJson();
}
