package ai.batchtopk.data;

import ai.batchtopk.io.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.List;

/**
 * The training data pipeline as {@code train} builds it, opened outside the command line: for
 * benchmarks and for programs that drive {@link ai.batchtopk.Sae} themselves.
 *
 * <pre>
 * try (Arena arena = Arena.ofShared();
 *      DataPipeline batches = DataPipeline.open(List.of(Path.of("shards/")), 4096, Order.SHUFFLED, 0, 2, 1, arena)) {
 *     Tensor batch = batches.next();   // off-heap, valid until the next call
 * }
 * </pre>
 */
public final class DataPipeline implements AutoCloseable {
    /** How rows are visited. */
    public enum Order {
        SEQUENTIAL,
        SHUFFLED
    }

    private final ActivationData data;
    private final BatchSource source;
    private final PrefetchingBatches prefetching;

    private DataPipeline(ActivationData data, BatchSource source, PrefetchingBatches prefetching) {
        this.data = data;
        this.source = source;
        this.prefetching = prefetching;
    }

    /**
     * Maps the files (as {@code --data} takes them) and starts the pipeline at the beginning.
     *
     * @param window {@code --shuffle-buffer}: rows per shuffle window, 0 for a permutation of all rows
     * @param prefetch {@code --prefetch}: batches prepared ahead by a thread, 0 for none
     * @param arena a shared arena when {@code prefetch > 0}; the mappings and buffers live in it
     */
    public static DataPipeline open(
            List<Path> files, long batchSize, Order order, long window, int prefetch, long seed, Arena arena)
            throws IOException {
        ActivationData data = ActivationData.open(files, arena);
        RowStream stream = order == Order.SHUFFLED
                ? new ShuffledBatches(data, batchSize, seed, window, DataPosition.START, arena)
                : new SequentialBatches(data, batchSize, DataPosition.START, arena);
        if (prefetch > 0) {
            PrefetchingBatches p = new PrefetchingBatches(stream, prefetch, arena);
            return new DataPipeline(data, p, p);
        }
        return new DataPipeline(data, (BatchSource) stream, null);
    }

    /** The next {@code batchSize x d} batch, off-heap; valid until the next call. */
    public Tensor next() {
        return source.next();
    }

    public long rows() {
        return data.rows();
    }

    public long width() {
        return data.width();
    }

    @Override
    public void close() {
        if (prefetching != null) {
            prefetching.close();
        }
    }
}
