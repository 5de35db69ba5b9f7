package ai.batchtopk.data;

import ai.batchtopk.io.DType;
import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * One rank's block of every batch of a stream of global batches: of each batch of {@code B} rows, the
 * rows {@code [B·r/N, B·(r+1)/N)} for rank {@code r} of {@code N}, the consecutive blocks in rank order
 * that a data-parallel step expects. The global batches are those one process would read (same data,
 * same seed), so the ranks together train on exactly its rows; the positions are the global stream's.
 * Each rank copies only its own rows where the source can skip the others ({@link RowStream#fillRows}).
 */
public final class RankRows implements BatchSource, RowStream {
    private final RowStream global;
    private final long firstRow;
    private final long rows;
    private final Tensor buffer;

    /**
     * @param arena where {@link #next()} keeps its batch buffer; null when only {@link #fill} is called (a
     *     prefetch thread brings its own buffers)
     * @throws IllegalArgumentException when a rank would get no row
     */
    public RankRows(RowStream global, int rank, int ranks, Arena arena) {
        long batch = global.batchSize();
        if (ranks < 1 || rank < 0 || rank >= ranks) {
            throw new IllegalArgumentException("rank " + rank + " of " + ranks + " is out of range");
        }
        if (batch < ranks) {
            throw new IllegalArgumentException(
                    "a batch of " + batch + " rows cannot give each of " + ranks + " ranks a row");
        }
        this.global = global;
        this.firstRow = batch * rank / ranks;
        this.rows = batch * (rank + 1) / ranks - firstRow;
        this.buffer = arena == null ? null : Tensor.allocate(global.dtype(), new long[] {rows, global.width()}, arena);
    }

    /** Where this rank's block starts in each global batch. */
    public long firstRow() {
        return firstRow;
    }

    @Override
    public Tensor next() {
        if (buffer == null) {
            throw new IllegalStateException("this RankRows was made without a buffer: call fill");
        }
        fill(buffer.data());
        return buffer;
    }

    @Override
    public void fill(MemorySegment out) {
        global.fillRows(out, firstRow, rows);
    }

    @Override
    public DataPosition position() {
        return global.position();
    }

    @Override
    public long epoch() {
        return global.epoch();
    }

    @Override
    public long nextRow() {
        return global.nextRow();
    }

    /** This rank's rows of each batch. */
    @Override
    public long batchSize() {
        return rows;
    }

    @Override
    public DType dtype() {
        return global.dtype();
    }

    @Override
    public long width() {
        return global.width();
    }
}
