package ai.batchtopk;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.batchtopk.io.DType;
import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import org.junit.jupiter.api.Test;

class EvaluatorTest {

    @Test
    void matchesADirectComputationOverSeveralBatches() {
        try (Arena arena = Arena.ofConfined();
                Sae sae = Sae.create(TestData.small(Architecture.BATCHTOPK).build())) {
            for (int step = 0; step < 10; step++) {
                sae.trainStep(TestData.gaussian(arena, 64, 32, step, 1f));
            }
            List<Tensor> batches =
                    List.of(TestData.gaussian(arena, 50, 32, 100, 1f), TestData.gaussian(arena, 30, 32, 101, 1f));
            double[] columnSums = new double[32];
            double squaredSum = 0;
            double squaredError = 0;
            long active = 0;
            long tokens = 0;
            boolean[] fired = new boolean[128];
            for (Tensor batch : batches) {
                int rows = (int) batch.dim(0);
                MemorySegment xHat = arena.allocate(rows * 32L * 4);
                MemorySegment codes = arena.allocate(rows * 128L * 4);
                sae.reconstruct(batch, Selection.INFERENCE, xHat);
                sae.encode(batch, Selection.INFERENCE, codes);
                for (long i = 0; i < rows * 32L; i++) {
                    double x = batch.data().getAtIndex(ValueLayout.JAVA_FLOAT, i);
                    double e = xHat.getAtIndex(ValueLayout.JAVA_FLOAT, i) - x;
                    columnSums[(int) (i % 32)] += x;
                    squaredSum += x * x;
                    squaredError += e * e;
                }
                for (long i = 0; i < rows * 128L; i++) {
                    if (codes.getAtIndex(ValueLayout.JAVA_FLOAT, i) != 0) {
                        active++;
                        fired[(int) (i % 128)] = true;
                    }
                }
                tokens += rows;
            }
            double meanSquares = 0;
            for (double s : columnSums) {
                meanSquares += s * s;
            }
            double nmse = squaredError / (squaredSum - meanSquares / tokens);
            long dead = 0;
            for (boolean f : fired) {
                dead += f ? 0 : 1;
            }

            try (Evaluator evaluator = new Evaluator(sae)) {
                assertThatThrownBy(evaluator::result).isInstanceOf(IllegalStateException.class);
                batches.forEach(evaluator::add);
                EvalResult result = evaluator.result();
                assertThat(result.tokens()).isEqualTo(80);
                assertThat(result.nmse()).isCloseTo(nmse, within(1e-4 * nmse));
                assertThat(result.explainedVariance()).isCloseTo(1 - nmse, within(1e-4));
                assertThat(result.l0()).isCloseTo((double) active / tokens, within(1e-12));
                assertThat(result.deadFraction()).isCloseTo(dead / 128.0, within(1e-12));
                assertThat(evaluator.fireCounts()).hasSize(128);
                evaluator.reset();
                assertThat(evaluator.tokens()).isZero();
            }
        }
    }

    private static Tensor constantRows(Arena arena, DType dtype, long rows, long cols, double value) {
        Tensor t = Tensor.allocate(dtype, new long[] {rows, cols}, arena);
        for (long i = 0; i < rows * cols; i++) {
            if (dtype == DType.F64) {
                t.data().setAtIndex(ValueLayout.JAVA_DOUBLE, i, value);
            } else {
                t.data().setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) value);
            }
        }
        return t;
    }

    @Test
    void oneRowIsRefusedForHavingNoVariance() {
        try (Arena arena = Arena.ofConfined();
                Sae sae = Sae.create(TestData.small(Architecture.BATCHTOPK).build());
                Evaluator evaluator = new Evaluator(sae)) {
            evaluator.add(TestData.gaussian(arena, 1, 32, 4, 1f));
            assertThatThrownBy(evaluator::result)
                    .isInstanceOfSatisfying(
                            BatchTopKException.class,
                            e -> assertThat(e.status()).isEqualTo(Status.INVALID_ARGUMENT))
                    .hasMessageContaining("no variance")
                    .hasMessageContaining("a single row");
            // More rows make it defined.
            evaluator.add(TestData.gaussian(arena, 7, 32, 5, 1f));
            assertThat(evaluator.result().nmse()).isFinite().isPositive();
        }
    }

    @Test
    void constantAndAllZeroDataAreRefusedForHavingNoVariance() {
        try (Arena arena = Arena.ofConfined();
                Sae sae = Sae.create(TestData.small(Architecture.TOPK).build());
                Evaluator evaluator = new Evaluator(sae)) {
            for (double value : new double[] {0, 0.1, -3e5}) {
                evaluator.reset();
                evaluator.add(constantRows(arena, DType.F32, 100, 32, value));
                evaluator.add(constantRows(arena, DType.F32, 27, 32, value));
                assertThatThrownBy(evaluator::result)
                        .as("rows of %s", value)
                        .isInstanceOf(BatchTopKException.class)
                        .hasMessageContaining("no variance")
                        .hasMessageContaining("constant over its 127 rows");
            }
        }
    }

    @Test
    void valuesWhoseSquaresOverflowAreRefused() {
        try (Arena arena = Arena.ofConfined();
                Sae sae = Sae.create(TestData.small(Architecture.BATCHTOPK).build());
                Evaluator evaluator = new Evaluator(sae)) {
            evaluator.add(constantRows(arena, DType.F64, 10, 32, 1e300));
            assertThatThrownBy(evaluator::result).hasMessageContaining("no variance");
            evaluator.add(constantRows(arena, DType.F64, 10, 32, -1e300));
            assertThatThrownBy(evaluator::result)
                    .isInstanceOfSatisfying(
                            BatchTopKException.class,
                            e -> assertThat(e.status()).isEqualTo(Status.NON_FINITE))
                    .hasMessageContaining("not finite")
                    .hasMessageContaining("1.0E300");
            // Finite squares, but beyond float32: the SAE's reconstruction error is what is not finite.
            evaluator.reset();
            Tensor big = TestData.gaussian(arena, 20, 32, 6, 0f);
            Tensor scaled = Tensor.allocate(DType.F64, new long[] {20, 32}, arena);
            for (long i = 0; i < 20 * 32; i++) {
                scaled.data()
                        .setAtIndex(
                                ValueLayout.JAVA_DOUBLE, i, 1e60 * big.data().getAtIndex(ValueLayout.JAVA_FLOAT, i));
            }
            evaluator.add(scaled);
            assertThatThrownBy(evaluator::result)
                    .isInstanceOf(BatchTopKException.class)
                    .hasMessageContaining("squared reconstruction error")
                    .hasMessageContaining("float32");
        }
    }

    @Test
    void aNonFiniteBatchIsRefusedAndLeavesTheSumsAsTheyWere() {
        try (Arena arena = Arena.ofConfined();
                Sae sae = Sae.create(TestData.small(Architecture.BATCHTOPK).build());
                Evaluator evaluator = new Evaluator(sae)) {
            Tensor good = TestData.gaussian(arena, 40, 32, 8, 1f);
            evaluator.add(good);
            EvalResult before = evaluator.result();
            Tensor bad = TestData.gaussian(arena, 10, 32, 9, 1f);
            bad.data().setAtIndex(ValueLayout.JAVA_FLOAT, 3 * 32 + 5, Float.NaN);
            assertThatThrownBy(() -> evaluator.add(bad))
                    .isInstanceOfSatisfying(
                            BatchTopKException.class,
                            e -> assertThat(e.status()).isEqualTo(Status.NON_FINITE));
            assertThat(evaluator.result()).isEqualTo(before);
        }
    }
}
