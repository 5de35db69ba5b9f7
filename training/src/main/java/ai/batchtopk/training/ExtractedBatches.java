package ai.batchtopk.training;

import ai.batchtopk.data.BatchSource;
import ai.batchtopk.data.DataPosition;
import ai.batchtopk.data.RowStream;
import ai.batchtopk.extract.ActivationBlock;
import ai.batchtopk.extract.Extractor;
import ai.batchtopk.extract.TextSource;
import ai.batchtopk.io.DType;
import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Iterator;
import java.util.Objects;

/**
 * Training batches of exactly {@code batchSize} rows extracted from text as the run goes: the
 * {@link Extractor}'s blocks are copied (off-heap to off-heap) into the caller's buffer ({@link #fill}, as a
 * {@link PrefetchingBatches} thread does, so that the model runs while the SAE steps) or into one reused
 * f32 buffer of its own {@code [batchSize, d]} ({@link #next}). The documents are passed over again and
 * again, in order, each pass streamed from the text (never the whole text in memory); each pass is an
 * epoch and {@link #position()} counts the rows taken in the current one.
 *
 * <p>Rows come in document order (no shuffling): consecutive rows are neighbouring tokens. Resuming
 * from a position re-extracts and skips the rows before it. The extractor stays the caller's to close; it
 * is used by one thread at a time (the constructor's, then whichever draws the batches).
 */
final class ExtractedBatches implements BatchSource, RowStream {
    private final Extractor extractor;
    private final TextSource text;
    private final long batchSize;
    private final long rowBytes;
    private final Arena arena;
    private Tensor buffer;
    private Iterator<ActivationBlock> blocks;
    private ActivationBlock block;
    private long blockOffset;
    private long epoch;
    private long rowInEpoch;

    /**
     * Starts the extraction (the first ONNX run happens here, so text without any token fails at once).
     *
     * @param extractor open extractor; must stay open while batches are drawn
     * @param text the documents (e.g. a {@code TextCorpus}), read again for every epoch
     * @param batchSize rows per batch
     * @param start where to start (e.g. {@link DataPosition#START} or a checkpoint's position)
     * @param arena owns the batch buffer of {@link #next()} (allocated on first use)
     * @throws IllegalArgumentException if the documents yield no token at all
     */
    ExtractedBatches(Extractor extractor, TextSource text, long batchSize, DataPosition start, Arena arena) {
        this.extractor = Objects.requireNonNull(extractor, "extractor");
        this.text = Objects.requireNonNull(text, "text");
        this.arena = Objects.requireNonNull(arena, "arena");
        if (batchSize <= 0) {
            throw new IllegalArgumentException("batch size " + batchSize + " must be positive");
        }
        this.batchSize = batchSize;
        this.rowBytes = extractor.width() * 4L;
        this.epoch = start.epoch();
        this.blocks = extractor.extract(text.chunks());
        if (!blocks.hasNext()) {
            throw new IllegalArgumentException("the text yields no tokens to train on");
        }
        skip(start.row());
    }

    @Override
    public long width() {
        return extractor.width();
    }

    @Override
    public DType dtype() {
        return DType.F32;
    }

    @Override
    public long batchSize() {
        return batchSize;
    }

    @Override
    public Tensor next() {
        if (buffer == null) {
            buffer = Tensor.allocate(DType.F32, new long[] {batchSize, extractor.width()}, arena);
        }
        fill(buffer.data());
        return buffer;
    }

    @Override
    public void fill(MemorySegment out) {
        long filled = 0;
        while (filled < batchSize) {
            long run = Math.min(batchSize - filled, available());
            MemorySegment.copy(
                    block.activations().data(), blockOffset * rowBytes, out, filled * rowBytes, run * rowBytes);
            blockOffset += run;
            rowInEpoch += run;
            filled += run;
        }
    }

    @Override
    public DataPosition position() {
        return new DataPosition(epoch, rowInEpoch);
    }

    @Override
    public long epoch() {
        return epoch;
    }

    @Override
    public long nextRow() {
        return rowInEpoch;
    }

    /** Rows left in the current block, moving to the next block (and the next epoch) when none are. */
    private long available() {
        while (block == null || blockOffset == block.rows()) {
            if (!blocks.hasNext()) {
                if (rowInEpoch == 0) {
                    throw new IllegalStateException("the text yields no tokens to train on");
                }
                epoch++;
                rowInEpoch = 0;
                blocks = extractor.extract(text.chunks());
                if (!blocks.hasNext()) {
                    throw new IllegalStateException("the text yields no tokens to train on");
                }
            }
            block = blocks.next();
            blockOffset = 0;
        }
        return block.rows() - blockOffset;
    }

    /** Skips {@code rows} rows of the current epoch (re-extracting them); they must all be in it. */
    private void skip(long rows) {
        long left = rows;
        while (left > 0) {
            if ((block == null || blockOffset == block.rows()) && !blocks.hasNext()) {
                throw new IllegalArgumentException("cannot start at row " + rows + " of epoch " + epoch
                        + ": the text yields only " + rowInEpoch + " rows per pass");
            }
            long run = Math.min(left, available());
            blockOffset += run;
            rowInEpoch += run;
            left -= run;
        }
    }
}
