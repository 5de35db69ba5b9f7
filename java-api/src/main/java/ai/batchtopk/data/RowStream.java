package ai.batchtopk.data;

import ai.batchtopk.io.DType;
import java.lang.foreign.MemorySegment;

/**
 * A deterministic sequence of rows that copies its next batch into a caller's buffer: what a
 * {@link PrefetchingBatches} thread runs ahead on. Everything about it follows from its seed and its
 * {@link DataPosition}, so a copy started at a saved position delivers the same rows.
 */
public interface RowStream {
    /** Copies the next {@link #batchSize()} rows into {@code out} (off-heap to off-heap) and advances. */
    void fill(MemorySegment out);

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
