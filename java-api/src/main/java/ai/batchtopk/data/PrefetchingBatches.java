package ai.batchtopk.data;

import ai.batchtopk.ErrorMessages;
import ai.batchtopk.MemoryBudget;
import ai.batchtopk.PageLock;
import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;

/**
 * Batches assembled ahead of time by a background thread, so the training step never waits on file
 * I/O or on gathering shuffled rows.
 *
 * <p>A ring of {@code depth + 1} off-heap batch buffers is allocated once: the thread fills free
 * buffers from a {@link RowStream} and hands them over through a bounded queue of {@code depth}; the
 * trainer takes one, and gives it back when it asks for the next. Nothing is allocated per batch and no
 * activation byte is on the Java heap. Each buffer carries the stream position after its rows, so
 * {@link #position()} is where the batches the trainer has <em>taken</em> end (not where the thread
 * has read to): a checkpoint taken between steps resumes exactly.
 *
 * <p>For a CUDA run the buffers are page-locked once ({@link PageLock}): the native step copies a batch
 * from them to the GPU by DMA on its copy stream while the previous step computes, and returns once
 * the copy is done, so the buffer can go back to the ring.
 *
 * <p>Not for use by more than one consumer thread. {@link #close()} stops the thread.
 */
public final class PrefetchingBatches implements BatchSource, AutoCloseable {
    /** One buffer of the ring and the stream position after it. */
    private static final class Slot {
        final Tensor batch;
        long epoch;
        long row;

        Slot(Tensor batch) {
            this.batch = batch;
        }
    }

    private static final Slot END = new Slot(null);

    private final BlockingQueue<Slot> free;
    private final BlockingQueue<Slot> ready;
    private final Thread thread;
    private final List<Tensor> pageLocked = new ArrayList<>();
    private volatile Throwable failure;
    private Slot current;
    private long epoch;
    private long row;

    /**
     * Starts the thread.
     *
     * @param depth batches prepared ahead (at least 1)
     * @param arena a shared arena: the buffers are written by the thread and read by the caller
     * @throws IllegalArgumentException if the ring of {@code depth + 1} buffers does not fit in the
     *     available memory ({@link MemoryBudget})
     */
    public PrefetchingBatches(RowStream stream, int depth, Arena arena) {
        this(stream, depth, arena, false);
    }

    /**
     * Starts the thread; with {@code pageLock}, the ring's buffers are page-locked for a CUDA device first
     * (and released by {@link #close()}).
     */
    public PrefetchingBatches(RowStream stream, int depth, Arena arena, boolean pageLock) {
        if (depth < 1) {
            throw new IllegalArgumentException("prefetch depth must be at least 1, got " + depth);
        }
        long ring = MemoryBudget.multiply(
                depth + 1L, stream.batchSize(), stream.width(), stream.dtype().byteSize());
        MemoryBudget.Available available = MemoryBudget.available();
        if (!available.fits(ring)) {
            throw new IllegalArgumentException("a prefetch depth of " + depth + " needs " + MemoryBudget.format(ring)
                    + " for its ring of " + (depth + 1L) + " batches of " + stream.batchSize() + " x " + stream.width()
                    + " "
                    + stream.dtype() + " but only " + available + " is available; prefetch fewer batches");
        }
        this.free = new ArrayBlockingQueue<>(depth + 1);
        this.ready = new ArrayBlockingQueue<>(depth + 1);
        for (int i = 0; i <= depth; i++) {
            Tensor buffer = Tensor.allocate(stream.dtype(), new long[] {stream.batchSize(), stream.width()}, arena);
            if (pageLock) {
                PageLock.lock(buffer.data());
                pageLocked.add(buffer);
            }
            free.add(new Slot(buffer));
        }
        DataPosition start = stream.position();
        this.epoch = start.epoch();
        this.row = start.row();
        this.thread =
                Thread.ofPlatform().name("batchtopk-prefetch").daemon(true).unstarted(() -> produce(stream));
        thread.start();
    }

    private void produce(RowStream stream) {
        try {
            while (!Thread.currentThread().isInterrupted()) {
                Slot slot = free.take();
                stream.fill(slot.batch.data());
                slot.epoch = stream.epoch();
                slot.row = stream.nextRow();
                ready.put(slot);
            }
        } catch (InterruptedException e) {
            // close(): stop quietly.
        } catch (Throwable e) {
            failure = e;
            ready.offer(END);
        }
    }

    @Override
    public Tensor next() {
        if (current != null) {
            free.add(current);
            current = null;
        }
        Slot slot;
        try {
            slot = ready.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new DataException("interrupted while waiting for the next batch", e);
        }
        if (slot == END) {
            ready.offer(END);
            Throwable e = failure;
            throw new DataException("reading the next batch failed: " + ErrorMessages.describe(e), e);
        }
        current = slot;
        epoch = slot.epoch;
        row = slot.row;
        return slot.batch;
    }

    @Override
    public DataPosition position() {
        return new DataPosition(epoch, row);
    }

    /** Stops the thread and waits for it, so the buffers and mappings can be freed afterwards. */
    @Override
    public void close() {
        thread.interrupt();
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        for (Tensor buffer : pageLocked) PageLock.unlock(buffer.data());
        pageLocked.clear();
    }
}
