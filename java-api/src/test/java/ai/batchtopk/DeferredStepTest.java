package ai.batchtopk;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;

/** Steps whose metrics are read later (the GPU's way) report what direct steps report; CUDA-only calls refuse a CPU. */
class DeferredStepTest {

    @Test
    void lastMetricsAreThoseOfTheLatestStep() {
        try (Arena arena = Arena.ofConfined();
                Sae deferred = Sae.create(TestData.small(Architecture.BATCHTOPK).build());
                Sae direct = Sae.create(TestData.small(Architecture.BATCHTOPK).build())) {
            assertThatThrownBy(deferred::lastMetrics)
                    .isInstanceOf(BatchTopKException.class)
                    .hasMessageContaining("no training step has run yet");
            StepMetrics expected = null;
            for (int step = 0; step < 3; step++) {
                Tensor batch = TestData.gaussian(arena, 64, 32, step, 0.3f);
                deferred.trainStepDeferred(batch);
                expected = direct.trainStep(batch);
            }
            assertThat(deferred.lastMetrics()).isEqualTo(expected);
        }
    }

    @Test
    void cudaOnlyCallsNameWhatIsMissing() {
        try (Arena arena = Arena.ofConfined();
                Sae cpu = Sae.create(TestData.small(Architecture.BATCHTOPK).build())) {
            assertThatThrownBy(() -> cpu.setGpuPrecision(GpuPrecision.FP32))
                    .isInstanceOf(BatchTopKException.class)
                    .hasMessageContaining("CUDA device")
                    .satisfies(
                            e -> assertThat(((BatchTopKException) e).status()).isEqualTo(Status.DEVICE));
            if (!NativeLibrary.cudaAvailable()) {
                Tensor buffer = TestData.gaussian(arena, 4, 4, 1, 0f);
                assertThatThrownBy(() -> PageLock.lock(buffer.data()))
                        .isInstanceOf(BatchTopKException.class)
                        .hasMessageContaining("CUDA")
                        .satisfies(e ->
                                assertThat(((BatchTopKException) e).status()).isEqualTo(Status.DEVICE));
            }
        }
    }
}
