package ai.batchtopk;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.batchtopk.io.DType;
import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.math.BigDecimal;
import java.math.MathContext;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class TotalVarianceTest {
    private static Tensor f64(Arena arena, long rows, long cols, double[] values) {
        Tensor t = Tensor.allocate(DType.F64, new long[] {rows, cols}, arena);
        for (int i = 0; i < values.length; i++) {
            t.data().setAtIndex(ValueLayout.JAVA_DOUBLE, i, values[i]);
        }
        return t;
    }

    private static Tensor slice(Tensor t, long first, long rows) {
        long rowBytes = t.dim(1) * t.dtype().byteSize();
        return new Tensor(t.dtype(), new long[] {rows, t.dim(1)}, t.data().asSlice(first * rowBytes, rows * rowBytes));
    }

    /** sum_ij (x_ij - mean_j)^2 in exact decimal arithmetic (rounded to 40 digits at the divisions). */
    private static double exact(double[] values, int rows, int cols) {
        MathContext mc = new MathContext(40);
        BigDecimal total = BigDecimal.ZERO;
        for (int j = 0; j < cols; j++) {
            BigDecimal sum = BigDecimal.ZERO;
            for (int r = 0; r < rows; r++) {
                sum = sum.add(new BigDecimal(values[r * cols + j]));
            }
            BigDecimal mean = sum.divide(BigDecimal.valueOf(rows), mc);
            for (int r = 0; r < rows; r++) {
                BigDecimal d = new BigDecimal(values[r * cols + j]).subtract(mean);
                total = total.add(d.multiply(d));
            }
        }
        return total.doubleValue();
    }

    @Test
    void aLargeMeanWithASmallSpreadKeepsItsDigitsWhereTheOnePassFormulaLosesThemAll() {
        int rows = 1000;
        int cols = 4;
        double[] values = new double[rows * cols];
        SplittableRandom random = new SplittableRandom(3);
        for (int i = 0; i < values.length; i++) {
            values[i] = 1e9 + random.nextDouble(-1, 1);
        }
        double expected = exact(values, rows, cols);
        try (Arena arena = Arena.ofConfined()) {
            Tensor all = f64(arena, rows, cols, values);
            TotalVariance variance = new TotalVariance(cols);
            // Uneven batches, merged.
            variance.add(slice(all, 0, 1));
            variance.add(slice(all, 1, 300));
            variance.add(slice(all, 301, 699));
            assertThat(variance.rows()).isEqualTo(rows);
            assertThat(variance.value()).isCloseTo(expected, within(1e-9 * expected));
            assertThat(variance.largestMagnitude()).isGreaterThan(1e9);
        }
        // What the native sums gave: sum x^2 - (sum x)^2 / n, in double.
        double onePass = 0;
        for (int j = 0; j < cols; j++) {
            double sum = 0;
            double squares = 0;
            for (int r = 0; r < rows; r++) {
                sum += values[r * cols + j];
                squares += values[r * cols + j] * values[r * cols + j];
            }
            onePass += squares - sum * sum / rows;
        }
        assertThat(Math.abs(onePass - expected)).isGreaterThan(0.01 * expected);
    }

    @Test
    void oneRowAndConstantColumnsGiveExactlyZero() {
        try (Arena arena = Arena.ofConfined()) {
            TotalVariance one = new TotalVariance(3);
            one.add(f64(arena, 1, 3, new double[] {0.1, -7e30, 3}));
            assertThat(one.value()).isZero();

            TotalVariance constant = new TotalVariance(2);
            double[] values = new double[2 * 999];
            for (int r = 0; r < 999; r++) {
                values[2 * r] = 0.1;
                values[2 * r + 1] = 1e300;
            }
            Tensor all = f64(arena, 999, 2, values);
            constant.add(slice(all, 0, 500));
            constant.add(slice(all, 500, 499));
            assertThat(constant.value()).isZero();
            assertThat(constant.largestMagnitude()).isEqualTo(1e300);
            constant.reset();
            assertThat(constant.rows()).isZero();
            constant.add(f64(arena, 2, 2, new double[] {1, 2, 3, 2}));
            assertThat(constant.value()).isEqualTo(2.0); // (1-2)^2 + (3-2)^2
        }
    }

    @Test
    void squaresBeyondTheDoubleRangeAreNotFinite() {
        try (Arena arena = Arena.ofConfined()) {
            TotalVariance variance = new TotalVariance(1);
            variance.add(f64(arena, 2, 1, new double[] {1e300, -1e300}));
            assertThat(variance.value()).isInfinite();
        }
    }

    @Test
    void halfPrecisionRowsReadAsTheirValues() {
        float[] values = {1, 2, -3, 0.5f, 4, 8, -2, 16};
        try (Arena arena = Arena.ofConfined()) {
            Tensor f16 = Tensor.allocate(DType.F16, new long[] {4, 2}, arena);
            Tensor bf16 = Tensor.allocate(DType.BF16, new long[] {4, 2}, arena);
            double[] doubles = new double[values.length];
            for (int i = 0; i < values.length; i++) {
                f16.data().setAtIndex(ValueLayout.JAVA_SHORT, i, Float.floatToFloat16(values[i]));
                bf16.data().setAtIndex(ValueLayout.JAVA_SHORT, i, (short) (Float.floatToIntBits(values[i]) >>> 16));
                doubles[i] = values[i];
            }
            double expected = exact(doubles, 4, 2);
            for (Tensor t : new Tensor[] {f16, bf16, f64(arena, 4, 2, doubles)}) {
                TotalVariance variance = new TotalVariance(2);
                variance.add(t);
                assertThat(variance.value()).as("%s", t.dtype()).isCloseTo(expected, within(1e-12));
            }
        }
    }
}
