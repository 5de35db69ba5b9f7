package ai.batchtopk.data;

import ai.batchtopk.io.DType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A deterministic sequence of rows that copies its next batch into a caller's buffer: what a
 * {@link PrefetchingBatches} thread runs ahead on. Everything about it follows from its seed and its
 * {@link DataPosition}, so a copy started at a saved position delivers the same rows.
 */
public interface RowStream {
    /** Copies the next {@link #batchSize()} rows into {@code out} (off-heap to off-heap) and advances. */
    void fill(MemorySegment out);

    /**
     * Copies rows {@code [from, from + count)} of the next batch into {@code out} and advances past the
     * whole batch: one rank's block of a global batch ({@link RankRows}). This default assembles the whole
     * batch in scratch memory first; sources that can skip the other rows override it.
     */
    default void fillRows(MemorySegment out, long from, long count) {
        long rowBytes = width() * dtype().byteSize();
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment whole = scratch.allocate(batchSize() * rowBytes, 64);
            fill(whole);
            MemorySegment.copy(whole, from * rowBytes, out, 0, count * rowBytes);
        }
    }

    /** Where the next batch starts. */
    DataPosition position();

    /** {@code position().epoch()}, without allocating. */
    long epoch();

    /** {@code position().row()}, without allocating. */
    long nextRow();

    long batchSize();

    /** The element type of a row. */
    DType dtype();

    /** The width d of a row. */
    long width();
}
