package ai.batchtopk.data;

import ai.batchtopk.io.DType;
import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;

/**
 * What the batch orders over activation files share: the data, the batch size, the off-heap buffer a
 * batch is copied into, and the position (epoch, next row) that a checkpoint saves.
 */
abstract sealed class FileBatches implements BatchSource, RowStream permits SequentialBatches, ShuffledBatches {
    final ActivationData data;
    final long batchSize;
    /** Null when made without an arena (a replay that only computes row numbers). */
    final Tensor buffer;

    long epoch;
    long next;

    FileBatches(ActivationData data, long batchSize, Arena arena) {
        if (batchSize <= 0 || batchSize > data.rows()) {
            throw new IllegalArgumentException("batch size " + batchSize + " must be in 1.." + data.rows());
        }
        this.data = data;
        this.batchSize = batchSize;
        this.buffer = arena == null ? null : Tensor.allocate(data.dtype(), new long[] {batchSize, data.width()}, arena);
    }

    @Override
    public DataPosition position() {
        return new DataPosition(epoch, next);
    }

    @Override
    public long epoch() {
        return epoch;
    }

    @Override
    public long nextRow() {
        return next;
    }

    @Override
    public long batchSize() {
        return batchSize;
    }

    @Override
    public DType dtype() {
        return data.dtype();
    }

    @Override
    public long width() {
        return data.width();
    }
}
