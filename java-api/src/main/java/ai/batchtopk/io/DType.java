package ai.batchtopk.io;

/**
 * Element types a {@link Tensor} can hold. All multi-byte types are stored little-endian.
 *
 * <p>The constant names match the safetensors dtype strings ({@code "F32"}, {@code "BF16"}, ...).
 */
public enum DType {
    /** IEEE 754 binary32. */
    F32(4, "F32", "<f4"),
    /** IEEE 754 binary64. */
    F64(8, "F64", "<f8"),
    /** IEEE 754 binary16 (half precision). */
    F16(2, "F16", "<f2"),
    /** bfloat16: the upper 16 bits of a binary32. NumPy has no standard descr for it (written as {@code <V2}). */
    BF16(2, "BF16", "<V2"),
    /** Signed 64-bit integer. */
    I64(8, "I64", "<i8"),
    /** Signed 32-bit integer. */
    I32(4, "I32", "<i4"),
    /** Unsigned 8-bit integer. */
    U8(1, "U8", "|u1"),
    /** Boolean, one byte per element (0 or 1). */
    BOOL(1, "BOOL", "|b1");

    private final int byteSize;
    private final String safetensorsName;
    private final String npyDescr;

    DType(int byteSize, String safetensorsName, String npyDescr) {
        this.byteSize = byteSize;
        this.safetensorsName = safetensorsName;
        this.npyDescr = npyDescr;
    }

    /** Size of one element in bytes. */
    public int byteSize() {
        return byteSize;
    }

    /** The dtype string used in safetensors headers, e.g. {@code "F32"}. */
    public String safetensorsName() {
        return safetensorsName;
    }

    /** The descr this library writes into .npy headers, e.g. {@code "<f4"}; {@code "<V2"} for BF16. */
    public String npyDescr() {
        return npyDescr;
    }

    /** True for F32, F64, F16 and BF16. */
    public boolean isFloatingPoint() {
        return this == F32 || this == F64 || this == F16 || this == BF16;
    }

    /**
     * Looks up a dtype by its safetensors name (case-sensitive, e.g. {@code "BF16"}).
     *
     * @throws IllegalArgumentException naming the unknown dtype if it is not supported
     */
    public static DType fromSafetensorsName(String name) {
        if (name != null) {
            for (DType t : values()) {
                if (t.safetensorsName.equals(name)) {
                    return t;
                }
            }
        }
        StringBuilder supported = new StringBuilder();
        for (DType t : values()) {
            if (!supported.isEmpty()) {
                supported.append(", ");
            }
            supported.append(t.safetensorsName);
        }
        throw new IllegalArgumentException("unknown or unsupported dtype "
                + (name == null ? "null" : "\"" + (name.length() > 40 ? name.substring(0, 37) + "..." : name) + "\"")
                + " (supported: " + supported + ")");
    }
}
