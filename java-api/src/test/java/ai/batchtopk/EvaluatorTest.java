package ai.batchtopk;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import org.junit.jupiter.api.Test;

class EvaluatorTest {

    @Test
    void matchesADirectComputationOverSeveralBatches() {
        try (Arena arena = Arena.ofConfined(); Sae sae = Sae.create(TestData.small(Architecture.BATCHTOPK).build())) {
            for (int step = 0; step < 10; step++) {
                sae.trainStep(TestData.gaussian(arena, 64, 32, step, 1f));
            }
            List<Tensor> batches = List.of(TestData.gaussian(arena, 50, 32, 100, 1f),
                    TestData.gaussian(arena, 30, 32, 101, 1f));
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
}
