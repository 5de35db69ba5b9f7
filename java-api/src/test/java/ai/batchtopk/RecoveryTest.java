package ai.batchtopk;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The end-to-end check that training works: known features in superposition are found again. */
class RecoveryTest {

    @Test
    void batchTopKRecoversAKnownDictionary() {
        Superposition data = new Superposition(64, 256, 4, 0.01, 1);
        SaeConfig config = SaeConfig.builder(64, 512)
                .k(4)
                .kAux(64)
                .lr(2e-3)
                .normalization(Normalization.NONE)
                .seed(2)
                .build();
        try (Sae sae = Sae.create(config)) {
            SplittableRandom random = new SplittableRandom(3);
            StepMetrics last = null;
            for (int step = 0; step < 3000; step++) {
                // A fresh arena per batch: memory of old batches is freed as training goes.
                try (Arena arena = Arena.ofConfined()) {
                    last = sae.trainStep(data.batch(arena, 256, random));
                }
            }
            double recovered = data.meanBestCosine(sae.state("W_dec"));
            assertThat(recovered).as("mean best cosine (last step: %s)", last).isGreaterThan(0.9);
            assertThat(last.nmse()).isLessThan(0.2);
        }
    }
}
