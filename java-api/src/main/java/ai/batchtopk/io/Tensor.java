package ai.batchtopk.io;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Objects;

/**
 * A tensor: element type, shape, and a {@link MemorySegment} over exactly its bytes (little-endian,
 * row-major / C order). The segment is not copied: it may be a view into a memory-mapped file (then it
 * is read-only and valid only while the mapping's arena is alive), native memory, or a heap array.
 *
 * <p>The constructor validates that all dims are non-negative, that the element count does not overflow,
 * and that {@code data.byteSize() == numel() * dtype.byteSize()}. The shape array is copied on the way in
 * and on the way out ({@link #shape()} returns a fresh copy); use {@link #dim(int)} in hot code.
 *
 * <p><b>Alignment.</b> Segments mapped from files need not be aligned to the element size (the
 * safetensors data section has no alignment guarantee, and tensors are packed back to back). Read them
 * with unaligned little-endian layouts such as {@link #F32_LE} (= {@code JAVA_FLOAT_UNALIGNED} in
 * little-endian order), or check {@code data.address() % dtype.byteSize() == 0} (and
 * {@code data.isNative()}) before using aligned layouts like {@code ValueLayout.JAVA_FLOAT}, which throw
 * on misaligned access. {@link #toFloatArray()} uses unaligned access.
 *
 * <p>Equality compares dtype, shape (by value) and the segment by {@link MemorySegment#equals identity
 * of the region}, not the bytes.
 *
 * @param dtype element type
 * @param shape dimensions, outermost first; empty for a scalar
 * @param data exactly {@code numel * dtype.byteSize()} bytes, little-endian, row-major
 */
public record Tensor(DType dtype, long[] shape, MemorySegment data) {

    /** Unaligned little-endian float layout: safe for any mapped tensor. */
    public static final ValueLayout.OfFloat F32_LE =
            ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Unaligned little-endian double layout. */
    public static final ValueLayout.OfDouble F64_LE =
            ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Unaligned little-endian 16-bit layout (F16 / BF16 bit patterns). */
    public static final ValueLayout.OfShort I16_LE =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Unaligned little-endian int layout. */
    public static final ValueLayout.OfInt I32_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Unaligned little-endian long layout. */
    public static final ValueLayout.OfLong I64_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /**
     * @throws NullPointerException if an argument is null
     * @throws IllegalArgumentException if a dim is negative, the element count or byte size overflows a
     *     long, or the segment size is not {@code numel * dtype.byteSize()}
     */
    public Tensor {
        Objects.requireNonNull(dtype, "dtype");
        Objects.requireNonNull(shape, "shape");
        Objects.requireNonNull(data, "data");
        shape = shape.clone();
        long expected = byteSizeOf(dtype, shape);
        if (data.byteSize() != expected) {
            throw new IllegalArgumentException("segment has " + data.byteSize() + " bytes but a " + dtype
                    + " tensor of shape " + Arrays.toString(shape) + " needs " + expected);
        }
    }

    /**
     * Number of bytes a tensor of this dtype and shape occupies.
     *
     * @throws IllegalArgumentException if a dim is negative or the size overflows a long
     */
    public static long byteSizeOf(DType dtype, long[] shape) {
        long n = numelOf(shape);
        try {
            return Math.multiplyExact(n, (long) dtype.byteSize());
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("byte size of a " + dtype + " tensor of shape " + Arrays.toString(shape)
                    + " overflows a 64-bit integer");
        }
    }

    /**
     * Product of the dims (1 for a scalar, shape {@code []}).
     *
     * @throws IllegalArgumentException if a dim is negative or the product overflows a long
     */
    public static long numelOf(long[] shape) {
        long n = 1;
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] < 0) {
                throw new IllegalArgumentException(
                        "negative dimension " + shape[i] + " at index " + i + " in shape " + Arrays.toString(shape));
            }
        }
        for (long d : shape) {
            try {
                n = Math.multiplyExact(n, d);
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException(
                        "element count of shape " + Arrays.toString(shape) + " overflows a 64-bit integer");
            }
        }
        return n;
    }

    /** A copy of the shape. */
    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Size of dimension {@code i} (no copy). */
    public long dim(int i) {
        return shape[i];
    }

    /** Number of elements (1 for a scalar). */
    public long numel() {
        long n = 1;
        for (long d : shape) {
            n *= d; // validated not to overflow in the constructor
        }
        return n;
    }

    /** Number of dimensions (0 for a scalar). */
    public int rank() {
        return shape.length;
    }

    /** {@code shape[0]}; 1 for a scalar (rank 0). */
    public long rows() {
        return shape.length == 0 ? 1 : shape[0];
    }

    /** Product of all dims but the first; 1 for rank 1 and for a scalar. */
    public long cols() {
        long n = 1;
        for (int i = 1; i < shape.length; i++) {
            n *= shape[i];
        }
        return n;
    }

    /** Size in bytes of the data. */
    public long byteSize() {
        return data.byteSize();
    }

    /**
     * A new F32 tensor holding a copy of {@code values}, in memory owned by {@link Arena#ofAuto()}
     * (freed by the garbage collector). For tests and small tensors.
     *
     * @throws IllegalArgumentException if {@code values.length} does not match the shape
     */
    public static Tensor ofFloats(long[] shape, float... values) {
        long n = numelOf(shape);
        if (n != values.length) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " has " + n + " elements but "
                    + values.length + " values were given");
        }
        MemorySegment seg = Arena.ofAuto().allocate((long) values.length * Float.BYTES, 64);
        MemorySegment.copy(values, 0, seg, F32_LE, 0, values.length);
        return new Tensor(DType.F32, shape, seg);
    }

    /**
     * A new I64 tensor holding a copy of {@code values}, in memory owned by {@link Arena#ofAuto()}.
     *
     * @throws IllegalArgumentException if {@code values.length} does not match the shape
     */
    public static Tensor ofLongs(long[] shape, long... values) {
        long n = numelOf(shape);
        if (n != values.length) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " has " + n + " elements but "
                    + values.length + " values were given");
        }
        MemorySegment seg = Arena.ofAuto().allocate((long) values.length * Long.BYTES, 64);
        MemorySegment.copy(values, 0, seg, I64_LE, 0, values.length);
        return new Tensor(DType.I64, shape, seg);
    }

    /** A new zero-filled tensor allocated in {@code arena} (64-byte aligned). */
    public static Tensor allocate(DType dtype, long[] shape, Arena arena) {
        MemorySegment seg = arena.allocate(byteSizeOf(dtype, shape), 64);
        return new Tensor(dtype, shape, seg);
    }

    /**
     * Copies the elements into a new float array: F32 as is, F64 narrowed, F16 and BF16 widened
     * (exactly). Uses unaligned little-endian access, so it works on any mapped tensor.
     *
     * @throws UnsupportedOperationException for integer and boolean dtypes
     * @throws IllegalStateException if the tensor has more elements than a Java array can hold
     */
    public float[] toFloatArray() {
        int n = arrayLength();
        float[] out = new float[n];
        switch (dtype) {
            case F32 -> MemorySegment.copy(data, F32_LE, 0, out, 0, n);
            case F64 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = (float) data.getAtIndex(F64_LE, i);
                }
            }
            case F16 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = Float.float16ToFloat(data.getAtIndex(I16_LE, i));
                }
            }
            case BF16 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = Float.intBitsToFloat((data.getAtIndex(I16_LE, i) & 0xFFFF) << 16);
                }
            }
            default ->
                throw new UnsupportedOperationException("toFloatArray supports F32, F64, F16 and BF16, not " + dtype);
        }
        return out;
    }

    /**
     * Copies the elements into a new long array: I64, I32, U8 (unsigned) and BOOL (0/1 bytes as stored).
     *
     * @throws UnsupportedOperationException for floating-point dtypes
     * @throws IllegalStateException if the tensor has more elements than a Java array can hold
     */
    public long[] toLongArray() {
        int n = arrayLength();
        long[] out = new long[n];
        switch (dtype) {
            case I64 -> MemorySegment.copy(data, I64_LE, 0, out, 0, n);
            case I32 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = data.getAtIndex(I32_LE, i);
                }
            }
            case U8, BOOL -> {
                for (int i = 0; i < n; i++) {
                    out[i] = data.get(ValueLayout.JAVA_BYTE, i) & 0xFF;
                }
            }
            default ->
                throw new UnsupportedOperationException("toLongArray supports I64, I32, U8 and BOOL, not " + dtype);
        }
        return out;
    }

    private int arrayLength() {
        long n = numel();
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException(
                    "tensor of shape " + Arrays.toString(shape) + " has " + n + " elements, too many for a Java array");
        }
        return (int) n;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Tensor t && dtype == t.dtype && Arrays.equals(shape, t.shape) && data.equals(t.data);
    }

    @Override
    public int hashCode() {
        return Objects.hash(dtype, Arrays.hashCode(shape), data);
    }

    @Override
    public String toString() {
        return "Tensor[" + dtype + " " + Arrays.toString(shape) + ", " + data.byteSize() + " bytes]";
    }
}
