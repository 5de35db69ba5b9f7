package ai.batchtopk;

import ai.batchtopk.bindings.batchtopk_h;
import ai.batchtopk.bindings.btk_tensor_view;
import ai.batchtopk.io.DType;
import ai.batchtopk.io.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * The checks and conversions every tensor goes through on its way into a downcall.
 *
 * <p>The rule: anything that would be unsafe to hand to native code at all (heap memory, a segment
 * smaller than the rows and columns we announce, a read-only output) is the caller's programming
 * error and throws {@link IllegalArgumentException} here, before the call; memory already freed (a
 * segment whose arena is closed) throws {@link IllegalStateException}, as touching it from Java would.
 * Anything native code can
 * check safely by itself (a batch's column count, NaN) is left to it, so there is one source of truth
 * for those rules; they come back as {@link BatchTopKException}.
 */
final class NativeTensors {
    private NativeTensors() {}

    /** The {@code BTK_DTYPE_*} code, or a DTYPE failure for types the library has no code for. */
    static int code(DType dtype, String function) {
        return switch (dtype) {
            case F32 -> batchtopk_h.BTK_DTYPE_F32();
            case F64 -> batchtopk_h.BTK_DTYPE_F64();
            case F16 -> batchtopk_h.BTK_DTYPE_F16();
            case BF16 -> batchtopk_h.BTK_DTYPE_BF16();
            case I64 -> batchtopk_h.BTK_DTYPE_I64();
            default ->
                throw new BatchTopKException(
                        Status.DTYPE,
                        function,
                        "dtype " + dtype + " is not supported by the native library (F32, F64, F16, BF16 or I64)");
        };
    }

    /** The dtype for a {@code BTK_DTYPE_*} code. */
    static DType dtype(int code) {
        if (code == batchtopk_h.BTK_DTYPE_F32()) return DType.F32;
        if (code == batchtopk_h.BTK_DTYPE_F64()) return DType.F64;
        if (code == batchtopk_h.BTK_DTYPE_F16()) return DType.F16;
        if (code == batchtopk_h.BTK_DTYPE_BF16()) return DType.BF16;
        if (code == batchtopk_h.BTK_DTYPE_I64()) return DType.I64;
        throw new IllegalStateException("the native library reported an unknown dtype code " + code);
    }

    /**
     * Fills {@code view} with a batch tensor after checking it is a rows x cols matrix in native
     * memory. Its column count is passed as it is: checking it against d_in is native code's job.
     */
    static void batch(MemorySegment view, Tensor batch, String function) {
        if (batch.rank() != 2) {
            throw new BatchTopKException(
                    Status.SHAPE,
                    function,
                    "a batch must be a matrix (rows x d_in), got shape " + Arrays.toString(batch.shape()));
        }
        // A Tensor's segment is exactly numel * element size (its constructor checks), so this is safe.
        fill(view, batch.data(), batch.dim(0), batch.dim(1), batch.dtype(), "batch", function, false);
    }

    /**
     * Fills {@code view} with rows x cols elements of {@code dtype} starting at {@code data}, after
     * checking the segment is native, large enough and (for outputs) writable.
     */
    static void fill(
            MemorySegment view,
            MemorySegment data,
            long rows,
            long cols,
            DType dtype,
            String what,
            String function,
            boolean output) {
        int code = code(dtype, function);
        requireNative(data, what);
        requireAlive(data, what);
        if (rows < 0 || cols < 0) {
            throw new IllegalArgumentException(
                    what + ": rows and columns must not be negative, got " + rows + " x " + cols);
        }
        long needed = bytes(rows, cols, dtype, what);
        if (data.byteSize() < needed) {
            throw new IllegalArgumentException(what + " holds " + data.byteSize() + " bytes but " + rows + " x " + cols
                    + " " + dtype + " needs " + needed);
        }
        if (output && data.isReadOnly()) {
            throw new IllegalArgumentException(what + " is read-only but is written to");
        }
        btk_tensor_view.data(view, data);
        btk_tensor_view.rows(view, rows);
        btk_tensor_view.cols(view, cols);
        btk_tensor_view.dtype(view, code);
        // Memory a MemorySegment can describe is host memory.
        btk_tensor_view.device(view, batchtopk_h.BTK_DEVICE_CPU());
    }

    /** Heap segments have no stable address, and a downcall cannot pass them as pointers. */
    static void requireNative(MemorySegment data, String what) {
        if (!data.isNative()) {
            throw new IllegalArgumentException(what + " is a heap segment; native code needs off-heap memory "
                    + "(allocate it from an Arena, or map a file)");
        }
    }

    /**
     * A segment of a closed arena (or of a file mapping already unmapped) points at freed memory:
     * refused before its address reaches native code, which cannot tell.
     */
    static void requireAlive(MemorySegment data, String what) {
        if (!data.scope().isAlive()) {
            throw new IllegalStateException(
                    what + " is no longer valid: the Arena its memory came from " + "(or the file mapping) is closed");
        }
    }

    static long bytes(long rows, long cols, DType dtype, String what) {
        try {
            return Math.multiplyExact(Math.multiplyExact(rows, cols), (long) dtype.byteSize());
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException(what + ": " + rows + " x " + cols + " " + dtype + " overflows a long");
        }
    }
}
