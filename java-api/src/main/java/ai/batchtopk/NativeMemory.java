package ai.batchtopk;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Keeps memory that native code has freed from staying resident, where the C library would keep it:
 * glibc's {@code malloc_trim(0)} and a fixed mmap threshold.
 *
 * <p>Why: libtorch allocates its tensors with {@code malloc}. After the first large block is freed,
 * glibc raises its mmap threshold to that block's size (up to 32 MiB), so later blocks of that size
 * come from its heaps instead of fresh mappings, and memory freed in the middle of a heap stays
 * resident. A run that interleaves blocks of two sizes (the training step's, and an evaluation's
 * larger batches) leaves more and more such holes in the heaps of its threads: resident memory creeps up
 * by megabytes per evaluation, though nothing is leaked ({@code benchmarks/rss-soak.sh}). Trimming after
 * the occasional large work (an evaluation, a checkpoint) returns the holes; it costs about a
 * millisecond and nothing per step.
 *
 * <p>That leaves the memory freed at the top of a thread's heap: {@code malloc_trim} trims the top of
 * the process's first heap only, and a thread's heap keeps a free top of up to twice the raised
 * threshold (16 MiB for an evaluation's 8 MiB blocks), so each new heap those blocks open keeps that
 * much for good ({@code BENCHMARKS.md}). {@link #keepLargeBlocksMapped} stops the climb instead: every
 * block of 128 KiB or more stays a mapping of its own, returned whole when freed.
 *
 * <p>Where there is no {@code malloc_trim} or {@code mallopt} (another C library, another OS), these
 * methods do nothing.
 */
public final class NativeMemory {
    private static final MethodHandle MALLOC_TRIM = Linker.nativeLinker()
            .defaultLookup()
            .find("malloc_trim")
            .map(symbol -> Linker.nativeLinker()
                    .downcallHandle(symbol, FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG)))
            .orElse(null);
    private static final MethodHandle MALLOPT = Linker.nativeLinker()
            .defaultLookup()
            .find("mallopt")
            .map(symbol -> Linker.nativeLinker()
                    .downcallHandle(
                            symbol,
                            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT)))
            .orElse(null);
    /** glibc's {@code M_MMAP_THRESHOLD} (malloc.h). */
    private static final int M_MMAP_THRESHOLD = -3;
    /** glibc's own initial threshold: the size from which a block is a mapping of its own. */
    public static final int LARGE_BLOCK_BYTES = 128 * 1024;

    private NativeMemory() {}

    /**
     * Keeps glibc's mmap threshold at {@value #LARGE_BLOCK_BYTES} bytes for the rest of the process
     * ({@code mallopt(M_MMAP_THRESHOLD)}), where glibc would otherwise raise it to the largest block
     * freed: every native block at least that large is mapped when allocated and unmapped when freed, so
     * an evaluation's large blocks never settle in the heaps. Costs the page faults of mapping such a
     * block each time it is allocated: 4.5% more CPU per training step at d_in 256, d_sae 2048, batch
     * 1024, a third more at the tiny d_in 64, d_sae 512, batch 32, nothing where the parameters exceed
     * 32 MiB, which glibc maps anyway (BENCHMARKS.md). Idempotent. Called when the library loads.
     *
     * @return whether the threshold was set (false where there is no {@code mallopt})
     */
    public static boolean keepLargeBlocksMapped() {
        if (MALLOPT == null) {
            return false;
        }
        try {
            return (int) MALLOPT.invokeExact(M_MMAP_THRESHOLD, LARGE_BLOCK_BYTES) == 1;
        } catch (Throwable e) {
            throw new IllegalStateException("mallopt failed", e);
        }
    }

    /**
     * Returns the native memory the C library holds free to the operating system, where it can.
     *
     * @return whether any was returned (false also where there is no {@code malloc_trim})
     */
    public static boolean releaseFreed() {
        if (MALLOC_TRIM == null) {
            return false;
        }
        try {
            return (int) MALLOC_TRIM.invokeExact(0L) == 1;
        } catch (Throwable e) {
            throw new IllegalStateException("malloc_trim failed", e);
        }
    }
}
