package ai.batchtopk.data;

import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The rows in file order, batch after batch, starting over at the end of the data.
 *
 * <p>{@link #next()} (no prefetch thread): a batch inside one file is a view of its mapping, nothing is
 * copied at all, and the file's metadata is checked first ({@link ActivationData.Part#view}). Only a
 * batch that spans two files, or the end and the start of the data, is copied (off-heap to off-heap,
 * one copy per contiguous run of rows) into a buffer of the source's own. {@link #fill} (a prefetch
 * thread) always copies, in Java, so a file truncated meanwhile is an error naming it, never a crash.
 */
public final class SequentialBatches extends FileBatches {
    public SequentialBatches(ActivationData data, long batchSize, DataPosition start, Arena arena) {
        super(data, batchSize, arena);
        this.epoch = start.epoch();
        this.next = start.row() % data.rows();
    }

    @Override
    public Tensor next() {
        ActivationData.Part part = data.partOf(next);
        long inPart = next - part.firstRow();
        Tensor batch;
        if (inPart + batchSize <= part.rowCount()) {
            batch = part.view(inPart, batchSize);
            advance(batchSize);
        } else {
            copyInto(buffer.data());
            batch = buffer;
        }
        return batch;
    }

    @Override
    public void fill(MemorySegment out) {
        copyInto(out);
    }

    /** Skips to the rows asked for (one rank's block), copies them, and skips the rest of the batch. */
    @Override
    public void fillRows(MemorySegment out, long from, long count) {
        skip(from);
        copyInto(out, count);
        skip(batchSize - from - count);
    }

    /** Copies the next batch, run by run, wrapping around at the end of the data. */
    private void copyInto(MemorySegment out) {
        copyInto(out, batchSize);
    }

    /** Copies the next {@code rows} rows, run by run, wrapping around at the end of the data. */
    private void copyInto(MemorySegment out, long rows) {
        long rowBytes = data.rowBytes();
        long filled = 0;
        while (filled < rows) {
            ActivationData.Part part = data.partOf(next);
            long inPart = next - part.firstRow();
            long run = Math.min(rows - filled, part.rowCount() - inPart);
            part.copyRows(inPart, run, out, filled * rowBytes);
            filled += run;
            advance(run);
        }
    }

    private void skip(long rows) {
        for (long left = rows; left > 0; ) {
            long run = Math.min(left, data.rows() - next);
            advance(run);
            left -= run;
        }
    }

    private void advance(long rows) {
        next += rows;
        if (next == data.rows()) {
            next = 0;
            epoch++;
        }
    }
}
