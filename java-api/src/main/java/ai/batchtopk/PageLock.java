package ai.batchtopk;

import static ai.batchtopk.BatchTopKException.check;

import ai.batchtopk.bindings.batchtopk_h;
import java.lang.foreign.MemorySegment;

/**
 * Page-locks off-heap memory for the CUDA device ({@code cudaHostRegister}), once, so that batches in it
 * reach the GPU by DMA while the device computes the previous step. Needs a CUDA build and a device.
 */
public final class PageLock {
    private PageLock() {}

    /** Page-locks the segment until {@link #unlock}; unlock it before its memory is freed. */
    public static void lock(MemorySegment segment) {
        NativeLibrary.load();
        check(batchtopk_h.btk_host_register(segment, segment.byteSize()), "btk_host_register");
    }

    /** Releases a segment {@link #lock} page-locked. */
    public static void unlock(MemorySegment segment) {
        NativeLibrary.load();
        check(batchtopk_h.btk_host_unregister(segment), "btk_host_unregister");
    }
}
