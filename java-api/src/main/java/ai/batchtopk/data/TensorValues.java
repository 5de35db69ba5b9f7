package ai.batchtopk.data;

import ai.batchtopk.io.Tensor;

/** Reads one element of a float tensor of any float dtype as a double, wherever its memory lies. */
public final class TensorValues {
    private TensorValues() {}

    public static double get(Tensor t, long index) {
        return switch (t.dtype()) {
            case F32 -> t.data().getAtIndex(Tensor.F32_LE, index);
            case F64 -> t.data().getAtIndex(Tensor.F64_LE, index);
            case F16 -> Float.float16ToFloat(t.data().getAtIndex(Tensor.I16_LE, index));
            // bfloat16 is the upper half of a binary32.
            case BF16 -> Float.intBitsToFloat((t.data().getAtIndex(Tensor.I16_LE, index) & 0xFFFF) << 16);
            default -> throw new IllegalArgumentException("not a float tensor: " + t);
        };
    }
}
