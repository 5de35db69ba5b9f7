package ai.batchtopk.training;

import ai.batchtopk.extract.ActivationBlock;
import ai.batchtopk.extract.Extractor;
import ai.batchtopk.io.DType;
import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;

/**
 * Training batches of exactly {@code batchSize} rows extracted from text as the run goes: the
 * {@link Extractor}'s blocks are copied (off-heap to off-heap) into one reused f32 buffer
 * {@code [batchSize, d]}. The documents are passed over again and again, in order; each pass is an epoch
 * and {@link #position()} counts the rows taken in the current one.
 *
 * <p>Rows come in document order (no shuffling): consecutive rows are neighbouring tokens. Resuming
 * from a position re-extracts and skips the rows before it. The extractor stays the caller's to close.
 */
final class ExtractedBatches implements BatchSource {
    private final Extractor extractor;
    private final List<String> documents;
    private final long batchSize;
    private final long rowBytes;
    private final Tensor buffer;
    private Iterator<ActivationBlock> blocks;
    private ActivationBlock block;
    private long blockOffset;
    private long epoch;
    private long rowInEpoch;

    /**
     * @param extractor open extractor; must stay open while batches are drawn
     * @param documents the texts, one document each (see {@code TextCorpus.read})
     * @param batchSize rows per batch
     * @param start where to start (e.g. {@link DataPosition#START} or a checkpoint's position)
     * @param arena owns the batch buffer
     */
    ExtractedBatches(Extractor extractor, List<String> documents, long batchSize, DataPosition start, Arena arena) {
        this.extractor = Objects.requireNonNull(extractor, "extractor");
        this.documents = List.copyOf(documents);
        if (batchSize <= 0) {
            throw new IllegalArgumentException("batch size " + batchSize + " must be positive");
        }
        if (this.documents.isEmpty()) {
            throw new IllegalArgumentException("no documents to extract from");
        }
        this.batchSize = batchSize;
        int d = extractor.width();
        this.rowBytes = d * 4L;
        this.buffer = Tensor.allocate(DType.F32, new long[] {batchSize, d}, arena);
        this.epoch = start.epoch();
        this.blocks = extractor.extract(this.documents);
        skip(start.row());
    }

    /** The width of a row. */
    long width() {
        return extractor.width();
    }

    @Override
    public Tensor next() {
        MemorySegment out = buffer.data();
        long filled = 0;
        while (filled < batchSize) {
            long run = Math.min(batchSize - filled, available());
            MemorySegment.copy(block.activations().data(), blockOffset * rowBytes, out, filled * rowBytes, run * rowBytes);
            blockOffset += run;
            rowInEpoch += run;
            filled += run;
        }
        return buffer;
    }

    @Override
    public DataPosition position() {
        return new DataPosition(epoch, rowInEpoch);
    }

    /** Rows left in the current block, moving to the next block (and the next epoch) when none are. */
    private long available() {
        while (block == null || blockOffset == block.rows()) {
            if (!blocks.hasNext()) {
                if (rowInEpoch == 0) {
                    throw new IllegalStateException("the documents yield no tokens to train on");
                }
                epoch++;
                rowInEpoch = 0;
                blocks = extractor.extract(documents);
            }
            block = blocks.hasNext() ? blocks.next() : null;
            blockOffset = 0;
            if (block == null && rowInEpoch == 0) {
                throw new IllegalStateException("the documents yield no tokens to train on");
            }
        }
        return block.rows() - blockOffset;
    }

    private void skip(long rows) {
        long left = rows;
        while (left > 0) {
            long run = Math.min(left, available());
            blockOffset += run;
            rowInEpoch += run;
            left -= run;
        }
    }
}
