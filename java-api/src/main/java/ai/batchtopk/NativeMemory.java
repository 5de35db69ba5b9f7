package ai.batchtopk;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Hands memory that native code has freed back to the operating system, where the C library keeps it
 * otherwise: glibc's {@code malloc_trim(0)}.
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
 * <p>Where there is no {@code malloc_trim} (another C library, another OS), {@link #releaseFreed} does
 * nothing.
 */
public final class NativeMemory {
    private static final MethodHandle MALLOC_TRIM = Linker.nativeLinker().defaultLookup().find("malloc_trim")
            .map(symbol -> Linker.nativeLinker().downcallHandle(symbol,
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG)))
            .orElse(null);

    private NativeMemory() {}

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
