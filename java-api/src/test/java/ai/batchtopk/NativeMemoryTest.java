package ai.batchtopk;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import org.junit.jupiter.api.Test;

class NativeMemoryTest {
    private static final Linker LINKER = Linker.nativeLinker();
    /** glibc's struct mallinfo2: ten size_t; hblkhd, the bytes of the blocks that are mappings of their own, is the fifth. */
    private static final StructLayout MALLINFO2 = MemoryLayout.structLayout(
            ValueLayout.JAVA_LONG,
            ValueLayout.JAVA_LONG,
            ValueLayout.JAVA_LONG,
            ValueLayout.JAVA_LONG,
            ValueLayout.JAVA_LONG,
            ValueLayout.JAVA_LONG,
            ValueLayout.JAVA_LONG,
            ValueLayout.JAVA_LONG,
            ValueLayout.JAVA_LONG,
            ValueLayout.JAVA_LONG);

    @Test
    void onceTheLibraryIsLoadedALargeBlockStaysAMappingOfItsOwnAfterOneWasFreed() throws Throwable {
        assumeTrue(LINKER.defaultLookup().find("mallinfo2").isPresent(), "glibc 2.33 or later");
        NativeLibrary.load();
        MethodHandle malloc = LINKER.downcallHandle(
                LINKER.defaultLookup().find("malloc").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
        MethodHandle free = LINKER.downcallHandle(
                LINKER.defaultLookup().find("free").orElseThrow(), FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));
        long size = 8L << 20;
        // With glibc's dynamic threshold, freeing this raises the threshold past 8 MiB, and the next
        // block of that size would come from a heap, where it stays resident after being freed.
        free.invokeExact((MemorySegment) malloc.invokeExact(size));

        long before = mappedBytes();
        MemorySegment block = (MemorySegment) malloc.invokeExact(size);
        long during = mappedBytes();
        free.invokeExact(block);
        long after = mappedBytes();

        assertThat(during - before).as("bytes mapped for the block").isGreaterThanOrEqualTo(size);
        assertThat(during - after).as("bytes unmapped when it was freed").isGreaterThanOrEqualTo(size);
    }

    @Test
    void glibcTakesTheThreshold() {
        assumeTrue(LINKER.defaultLookup().find("mallopt").isPresent(), "glibc");
        assertThat(NativeMemory.keepLargeBlocksMapped()).isTrue();
    }

    private static long mappedBytes() throws Throwable {
        MethodHandle mallinfo2 = LINKER.downcallHandle(
                LINKER.defaultLookup().find("mallinfo2").orElseThrow(), FunctionDescriptor.of(MALLINFO2));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment info = (MemorySegment) mallinfo2.invokeExact((SegmentAllocator) arena);
            return info.getAtIndex(ValueLayout.JAVA_LONG, 4);
        }
    }
}
