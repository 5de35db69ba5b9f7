package ai.batchtopk.training;

import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Rows in a seeded random order, a new order each epoch, gathered row by row into one off-heap batch
 * buffer with {@link MemorySegment#copy} (mapping to buffer: the rows never touch the Java heap).
 *
 * <p>Epoch {@code e} visits the rows in the order of a {@link RowPermutation} seeded from
 * {@code (seed, e)}; so the whole sequence of batches follows from the seed alone, and a resumed run
 * continues it exactly from its saved {@link DataPosition}. A batch may straddle two epochs.
 */
final class ShuffledBatches implements BatchSource {
    private final ActivationData data;
    private final long batchSize;
    private final long seed;
    private final Tensor buffer;
    private long epoch;
    private long next;
    private RowPermutation order;

    ShuffledBatches(ActivationData data, long batchSize, long seed, DataPosition start, Arena arena) {
        if (batchSize <= 0 || batchSize > data.rows()) {
            throw new IllegalArgumentException("batch size " + batchSize + " must be in 1.." + data.rows());
        }
        this.data = data;
        this.batchSize = batchSize;
        this.seed = seed;
        this.buffer = Tensor.allocate(data.dtype(), new long[] {batchSize, data.width()}, arena);
        this.epoch = start.epoch();
        this.next = start.row() % data.rows();
        this.order = permutationOf(epoch);
    }

    private RowPermutation permutationOf(long epoch) {
        // Golden-ratio stride: neighbouring epochs get unrelated SplittableRandom streams.
        return new RowPermutation(data.rows(), seed + epoch * 0x9e3779b97f4a7c15L);
    }

    @Override
    public Tensor next() {
        MemorySegment out = buffer.data();
        long rowBytes = data.rowBytes();
        for (long b = 0; b < batchSize; b++) {
            long row = order.apply(next);
            ActivationData.Part part = data.partOf(row);
            MemorySegment.copy(part.rows().data(), (row - part.firstRow()) * rowBytes, out, b * rowBytes, rowBytes);
            if (++next == data.rows()) {
                next = 0;
                epoch++;
                order = permutationOf(epoch);
            }
        }
        return buffer;
    }

    @Override
    public DataPosition position() {
        return new DataPosition(epoch, next);
    }
}
