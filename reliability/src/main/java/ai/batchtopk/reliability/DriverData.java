package ai.batchtopk.reliability;

import ai.batchtopk.io.DType;
import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.util.Random;

/** Seeded batches for the drivers. */
final class DriverData {
    private DriverData() {}

    /** rows x cols of N(0, 1) + shift, F32 or F64, in {@code arena}. */
    static Tensor gaussian(Arena arena, long rows, long cols, long seed, boolean doublePrecision) {
        Tensor t = Tensor.allocate(doublePrecision ? DType.F64 : DType.F32, new long[] {rows, cols}, arena);
        Random random = new Random(seed);
        for (long i = 0; i < rows * cols; i++) {
            double v = random.nextGaussian() + 0.3;
            if (doublePrecision) {
                t.data().setAtIndex(ValueLayout.JAVA_DOUBLE, i, v);
            } else {
                t.data().setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) v);
            }
        }
        return t;
    }
}
