package ai.batchtopk;

import static org.assertj.core.api.Assertions.assertThat;

import ai.batchtopk.io.DType;
import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.SplittableRandom;

/** Batches and comparisons shared by the tests. */
final class TestData {
    private TestData() {}

    /** A small config for fast tests (Matryoshka: prefixes of 16, 48 and 128 latents). */
    static SaeConfig.Builder small(Architecture architecture) {
        return SaeConfig.builder(32, 128)
                .architecture(architecture)
                .k(8)
                .kAux(16)
                .seed(7)
                .matryoshkaWidths(
                        architecture == Architecture.MATRYOSHKA_BATCHTOPK ? List.of(16L, 48L, 128L) : List.of());
    }

    /** rows x cols standard normal floats (plus {@code shift}), in {@code arena}. */
    static Tensor gaussian(Arena arena, long rows, long cols, long seed, float shift) {
        Tensor t = Tensor.allocate(DType.F32, new long[] {rows, cols}, arena);
        SplittableRandom random = new SplittableRandom(seed);
        for (long i = 0; i < rows * cols; i++) {
            t.data().setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) gaussian(random) + shift);
        }
        return t;
    }

    /** A vector of n standard normal floats. */
    static Tensor gaussianVector(Arena arena, long n, long seed) {
        Tensor matrix = gaussian(arena, 1, n, seed);
        return new Tensor(DType.F32, new long[] {n}, matrix.data());
    }

    static Tensor gaussian(Arena arena, long rows, long cols, long seed) {
        return gaussian(arena, rows, cols, seed, 0f);
    }

    static double gaussian(SplittableRandom random) {
        // Box-Muller: SplittableRandom has no nextGaussian before Java 17's RandomGenerator default.
        double u = 1 - random.nextDouble();
        double v = random.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    }

    /** Number of non-zero floats among the first n of a segment. */
    static long nonZeros(MemorySegment floats, long from, long n) {
        long count = 0;
        for (long i = from; i < from + n; i++) {
            if (floats.getAtIndex(ValueLayout.JAVA_FLOAT, i) != 0f) {
                count++;
            }
        }
        return count;
    }

    /** ||a - b|| / max(||b||, tiny): how far apart two float tensors are, relative to the second. */
    static double relativeDifference(Tensor a, Tensor b) {
        assertThat(a.dtype()).isEqualTo(b.dtype());
        assertThat(a.shape()).isEqualTo(b.shape());
        double diff = 0;
        double norm = 0;
        for (long i = 0; i < a.numel(); i++) {
            double x = value(a, i);
            double y = value(b, i);
            diff += (x - y) * (x - y);
            norm += y * y;
        }
        return Math.sqrt(diff) / Math.max(Math.sqrt(norm), 1e-30);
    }

    static double value(Tensor t, long i) {
        return switch (t.dtype()) {
            case F32 -> t.data().getAtIndex(Tensor.F32_LE, i);
            case F64 -> t.data().getAtIndex(Tensor.F64_LE, i);
            case I64 -> t.data().getAtIndex(Tensor.I64_LE, i);
            default -> throw new IllegalArgumentException(t.dtype().toString());
        };
    }

    /** Every state tensor but the gradients, byte for byte. */
    static void assertSameState(Sae actual, Sae expected) {
        assertThat(actual.stateNames()).isEqualTo(expected.stateNames());
        for (String name : expected.stateNames()) {
            if (name.startsWith("grad.")) {
                continue;
            }
            Tensor a = actual.state(name);
            Tensor e = expected.state(name);
            assertThat(a.dtype()).as(name).isEqualTo(e.dtype());
            assertThat(a.shape()).as(name).isEqualTo(e.shape());
            long mismatch = a.data().mismatch(e.data());
            assertThat(mismatch)
                    .as("%s differs from byte %d on", name, mismatch)
                    .isEqualTo(-1L);
        }
    }
}
