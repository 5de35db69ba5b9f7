package ai.batchtopk;

import static ai.batchtopk.BatchTopKException.check;

import ai.batchtopk.bindings.batchtopk_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.Objects;

/**
 * One rank's membership of a group of processes that train together (libtorch's c10d: a TCPStore
 * that rank 0 hosts to meet, ProcessGroupGloo to communicate). Owns the native {@code btk_dist}
 * handle; {@link #close()} leaves the group.
 *
 * <p>Every rank must make the same calls in the same order ({@link Sae#trainStep(ai.batchtopk.io.Tensor,
 * ProcessGroup)}, {@link #sum}); a rank that dies or hangs makes the others' next call fail with
 * {@link Status#COMMUNICATION} within the timeout given to {@link #join}, never hang. Not for use by
 * two threads at once.
 */
public final class ProcessGroup implements AutoCloseable {
    private final MemorySegment handle;
    private final int rank;
    private final int worldSize;
    private boolean closed;

    private ProcessGroup(MemorySegment handle, int rank, int worldSize) {
        this.handle = handle;
        this.rank = rank;
        this.worldSize = worldSize;
    }

    /** Whether this build of the native library can form process groups (c10d with Gloo). */
    public static boolean available() {
        NativeLibrary.load();
        return batchtopk_h.btk_dist_available() == 1;
    }

    /**
     * Joins the group of {@code worldSize} ranks as {@code rank}: rank 0 listens on {@code masterPort},
     * every rank connects to {@code masterAddress:masterPort}. Blocks until all have joined.
     *
     * @param timeout how long to wait for the others, now and in every later collective
     * @throws BatchTopKException INVALID_ARGUMENT for a rank, size, address or port out of range;
     *     COMMUNICATION when the port is in use or the group does not assemble in time
     */
    public static ProcessGroup join(int rank, int worldSize, String masterAddress, int masterPort, Duration timeout) {
        Objects.requireNonNull(masterAddress, "masterAddress");
        Objects.requireNonNull(timeout, "timeout");
        NativeLibrary.load();
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment out = scratch.allocate(ValueLayout.ADDRESS);
            check(
                    batchtopk_h.btk_dist_create(
                            rank,
                            worldSize,
                            scratch.allocateFrom(masterAddress),
                            masterPort,
                            Math.max(1, timeout.toMillis()),
                            out),
                    "btk_dist_create");
            return new ProcessGroup(out.get(ValueLayout.ADDRESS, 0), rank, worldSize);
        }
    }

    public int rank() {
        return rank;
    }

    public int worldSize() {
        return worldSize;
    }

    /** Payload bytes this rank has passed to all-reduces so far. */
    public long bytesReduced() {
        return batchtopk_h.btk_dist_bytes_reduced(handle());
    }

    /** Replaces each value by its sum over the ranks. */
    public void sum(double[] values) {
        Objects.requireNonNull(values, "values");
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment buffer = scratch.allocateFrom(ValueLayout.JAVA_DOUBLE, values);
            check(batchtopk_h.btk_dist_sum(handle(), buffer, values.length), "btk_dist_sum");
            MemorySegment.copy(buffer, ValueLayout.JAVA_DOUBLE, 0, values, 0, values.length);
        }
    }

    /** Blocks until every rank has called it. */
    public void barrier() {
        sum(new double[] {0});
    }

    MemorySegment handle() {
        if (closed) {
            throw new IllegalStateException("ProcessGroup is closed");
        }
        return handle;
    }

    /** Leaves the group. Calling it again does nothing. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            batchtopk_h.btk_dist_destroy(handle);
        }
    }

    @Override
    public String toString() {
        return closed ? "ProcessGroup[closed]" : "ProcessGroup[rank " + rank + " of " + worldSize + "]";
    }
}
