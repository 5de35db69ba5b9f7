package ai.batchtopk;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * A Matryoshka BatchTopK SAE trained on data with a known dictionary: every wider prefix reconstructs
 * better than the one inside it, and the inference rule (theta) keeps about k latents per token.
 */
class MatryoshkaTrainingTest {

    @Test
    void prefixNmseFallsWithWidthAndThetaKeepsAboutKLatents() {
        Superposition data = new Superposition(64, 256, 4, 0.01, 5);
        int k = 4;
        SaeConfig config = SaeConfig.builder(64, 512)
                .architecture(Architecture.MATRYOSHKA_BATCHTOPK)
                .k(k)
                .kAux(64)
                .lr(2e-3)
                .normalization(Normalization.NONE)
                .seed(2)
                .matryoshkaWidths(List.of(32L, 128L, 512L))
                .build();
        int steps = 1500;
        int rows = 256;
        long streamSeed = 11;
        try (Sae sae = Sae.create(config)) {
            SplittableRandom random = new SplittableRandom(streamSeed);
            for (int step = 0; step < steps; step++) {
                try (Arena arena = Arena.ofConfined()) {
                    sae.trainStep(data.batch(arena, rows, random));
                }
            }
            // The training data itself: the same stream again, its first 16 batches.
            EvalResult result;
            try (Evaluator evaluator = new Evaluator(sae);
                    Arena arena = Arena.ofConfined()) {
                SplittableRandom again = new SplittableRandom(streamSeed);
                for (int batch = 0; batch < 16; batch++) {
                    Tensor x = data.batch(arena, rows, again);
                    evaluator.add(x);
                }
                result = evaluator.result();
            }
            List<Double> prefix = result.prefixNmse();
            assertThat(prefix).hasSize(3);
            assertThat(prefix.get(0)).as("%s", result).isGreaterThan(prefix.get(1));
            assertThat(prefix.get(1)).as("%s", result).isGreaterThan(prefix.get(2));
            assertThat(prefix.get(2)).isEqualTo(result.nmse());
            assertThat(result.nmse()).as("%s", result).isLessThan(0.2);
            assertThat(result.l0())
                    .as("L0 at inference (theta = %s): %s", sae.theta(), result)
                    .isCloseTo(k, within(0.1 * k));
        }
    }

    @Test
    void otherArchitecturesReportNoPrefixes() {
        try (Arena arena = Arena.ofConfined();
                Sae sae = Sae.create(TestData.small(Architecture.BATCHTOPK).build());
                Evaluator evaluator = new Evaluator(sae)) {
            evaluator.add(TestData.gaussian(arena, 64, 32, 1));
            assertThat(evaluator.result().prefixNmse()).isEmpty();
        }
    }
}
