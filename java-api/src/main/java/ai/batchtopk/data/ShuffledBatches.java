package ai.batchtopk.data;

import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Rows in a seeded random order, a new order each epoch, gathered row by row into an off-heap batch
 * buffer with {@link MemorySegment#copy} (mapping to buffer: the rows never touch the Java heap; a file
 * truncated meanwhile is an error naming it, see {@link ActivationData#faulted}).
 *
 * <p>Two orders:
 * <ul>
 *   <li>full ({@code window == 0}): epoch {@code e} visits the rows in the order of one
 *       {@link RowPermutation} of all rows seeded from {@code (seed, e)};</li>
 *   <li>windowed ({@code --shuffle-buffer ROWS}): the rows are cut into windows of {@code ROWS}
 *       consecutive rows; each epoch visits the windows in a seeded random order and the rows of each
 *       window in a seeded random order of their own. Any batch then reads from one or two windows of
 *       the files only (a working set of {@code ROWS} rows that stays in the page cache), like a shuffle
 *       buffer of that many rows, while its state is still just the position, so resuming is exact and
 *       costs nothing.</li>
 * </ul>
 * In both, position {@code (epoch, i)} identifies the next row, the whole sequence follows from the
 * seed alone, and a batch may straddle two epochs. (In the windowed order {@code i} runs over
 * {@code windows x ROWS} slots; the slots past the end of the short last window are skipped.)
 */
public final class ShuffledBatches extends FileBatches {
    private final long seed;
    private final long window;
    private final long windows;
    private final long slots;
    private RowPermutation order;
    private long currentWindow = -1;
    private RowPermutation windowOrder;

    public ShuffledBatches(ActivationData data, long batchSize, long seed, DataPosition start, Arena arena) {
        this(data, batchSize, seed, 0, start, arena);
    }

    /** @param window rows per shuffle window; 0 for one permutation of all rows */
    public ShuffledBatches(
            ActivationData data, long batchSize, long seed, long window, DataPosition start, Arena arena) {
        super(data, batchSize, arena);
        if (window < 0) {
            throw new IllegalArgumentException("window must not be negative, got " + window);
        }
        this.seed = seed;
        this.window = window >= data.rows() ? 0 : window;
        this.windows = this.window == 0 ? 1 : Math.ceilDiv(data.rows(), this.window);
        this.slots = this.window == 0 ? data.rows() : windows * this.window;
        this.epoch = start.epoch();
        this.next = start.row() % slots;
        this.order = permutationOf(epoch);
    }

    private RowPermutation permutationOf(long epoch) {
        // Golden-ratio stride: neighbouring epochs get unrelated SplittableRandom streams.
        return new RowPermutation(window == 0 ? data.rows() : windows, seed + epoch * 0x9e3779b97f4a7c15L);
    }

    @Override
    public Tensor next() {
        fill(buffer.data());
        return buffer;
    }

    @Override
    public void fill(MemorySegment out) {
        fillRows(out, 0, batchSize);
    }

    /** Walks the whole batch's order but copies only the rows asked for (one rank's block). */
    @Override
    public void fillRows(MemorySegment out, long from, long count) {
        long rowBytes = data.rowBytes();
        long b = 0;
        ActivationData.Part part = null;
        try {
            while (b < batchSize) {
                long row = rowAt(next);
                if (row >= 0) {
                    if (b >= from && b < from + count) {
                        part = data.partOf(row);
                        MemorySegment.copy(
                                part.rows().data(),
                                (row - part.firstRow()) * rowBytes,
                                out,
                                (b - from) * rowBytes,
                                rowBytes);
                    }
                    b++;
                }
                nextSlot();
            }
            // One stat per batch, not per row: a native call, on whose return the JVM raises the fault of a
            // copy from a truncated file at the latest (see MappedFile); it also catches the last file
            // read being changed without a fault.
            part.file().requireUnchanged();
        } catch (InternalError fault) {
            throw data.faulted(fault);
        }
    }

    private void nextSlot() {
        if (++next == slots) {
            next = 0;
            epoch++;
            order = permutationOf(epoch);
            currentWindow = -1;
        }
    }

    /**
     * The data row that comes {@code k} rows after {@code start} in this order (for naming the file and
     * row of a bad value in a batch that started at {@code start}).
     */
    public static long rowAfter(ActivationData data, long seed, long window, DataPosition start, long k) {
        ShuffledBatches replay = new ShuffledBatches(data, 1, seed, window, start, null);
        long left = k;
        while (true) {
            long row = replay.rowAt(replay.next);
            replay.nextSlot();
            if (row >= 0 && left-- == 0) {
                return row;
            }
        }
    }

    /** The row at slot {@code i} of this epoch, or -1 for a slot past the end of the short last window. */
    private long rowAt(long i) {
        if (window == 0) {
            return order.apply(i);
        }
        long w = order.apply(i / window);
        long offset = i % window;
        long first = w * window;
        long size = Math.min(window, data.rows() - first);
        if (offset >= size) {
            return -1;
        }
        if (w != currentWindow) {
            currentWindow = w;
            windowOrder = new RowPermutation(size, seed ^ mixWindow(epoch, w));
        }
        return first + windowOrder.apply(offset);
    }

    private static long mixWindow(long epoch, long w) {
        long z = epoch * 0x9e3779b97f4a7c15L + w * 0xc2b2ae3d27d4eb4fL + 0x165667b19e3779f9L;
        z = (z ^ (z >>> 33)) * 0xff51afd7ed558ccdL;
        return z ^ (z >>> 29);
    }
}
