package ai.batchtopk;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.batchtopk.io.DType;
import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;

class WarmStartTest {

    private static Sae trained(Architecture architecture, Arena arena) {
        Sae sae = Sae.create(TestData.small(architecture).lr(1e-2).build());
        for (int step = 0; step < 5; step++) {
            sae.trainStep(TestData.gaussian(arena, 64, 32, step, 0.5f));
        }
        return sae;
    }

    private static void assertSameParameters(Sae a, Sae b) {
        for (String name : new String[] {"W_enc", "W_dec", "b_enc", "b_dec"}) {
            assertThat(a.state(name).data().mismatch(b.state(name).data()))
                    .as(name)
                    .isEqualTo(-1);
        }
    }

    private static void assertFreshTrainingState(Sae sae) {
        assertThat(sae.state("step").toLongArray()).containsOnly(0L);
        assertThat(sae.state("tokens_since_fired").toLongArray()).containsOnly(0L);
        assertThat(sae.theta()).isZero();
        for (String name : new String[] {"W_enc", "W_dec", "b_enc", "b_dec"}) {
            assertThat(sae.state("adam.m." + name).toFloatArray())
                    .as("adam.m." + name)
                    .containsOnly(0f);
            assertThat(sae.state("adam.v." + name).toFloatArray())
                    .as("adam.v." + name)
                    .containsOnly(0f);
        }
    }

    @Test
    void batchTopKBecomesTheJumpReluItInfersAs() {
        try (Arena arena = Arena.ofConfined();
                Sae batchTopK = trained(Architecture.BATCHTOPK, arena)) {
            double theta = batchTopK.theta();
            assertThat(theta).isPositive();
            SaeConfig config = batchTopK.config().toBuilder()
                    .architecture(Architecture.JUMPRELU)
                    .build();
            try (Sae jumpRelu = WarmStart.of(batchTopK, config)) {
                assertThat(jumpRelu.config()).isEqualTo(config);
                assertSameParameters(jumpRelu, batchTopK);
                assertFreshTrainingState(jumpRelu);
                assertThat(jumpRelu.state("log_threshold").toFloatArray()).containsOnly((float) Math.log(theta));
                // Same function at inference: theta everywhere is what BatchTopK infers with.
                Tensor batch = TestData.gaussian(arena, 32, 32, 9, 0.5f);
                MemorySegment a = arena.allocate(32 * 32 * 4);
                MemorySegment b = arena.allocate(32 * 32 * 4);
                batchTopK.reconstruct(batch, Selection.INFERENCE, a);
                jumpRelu.reconstruct(batch, Selection.INFERENCE, b);
                assertThat(TestData.relativeDifference(
                                new Tensor(DType.F32, new long[] {32, 32}, b),
                                new Tensor(DType.F32, new long[] {32, 32}, a)))
                        .isLessThan(1e-5);
                jumpRelu.trainStep(batch);
                assertThat(jumpRelu.state("step").toLongArray()).containsOnly(1L);
            }
        }
    }

    @Test
    void jumpReluBecomesBatchTopKWithThetaToBeEstimated() {
        try (Arena arena = Arena.ofConfined();
                Sae jumpRelu = trained(Architecture.JUMPRELU, arena)) {
            SaeConfig config = jumpRelu.config().toBuilder()
                    .architecture(Architecture.BATCHTOPK)
                    .k(4)
                    .build();
            try (Sae batchTopK = WarmStart.of(jumpRelu, config)) {
                assertSameParameters(batchTopK, jumpRelu);
                assertFreshTrainingState(batchTopK);
                batchTopK.trainStep(TestData.gaussian(arena, 64, 32, 1, 0.5f));
                assertThat(batchTopK.theta()).isPositive();
            }
        }
    }

    @Test
    void jumpReluThresholdsAreKeptAndOtherwiseStartAtTheConfigsValue() {
        try (Arena arena = Arena.ofConfined();
                Sae jumpRelu = trained(Architecture.JUMPRELU, arena);
                Sae topK = trained(Architecture.TOPK, arena)) {
            try (Sae again = WarmStart.of(jumpRelu, jumpRelu.config())) {
                assertThat(again.state("log_threshold")
                                .data()
                                .mismatch(jumpRelu.state("log_threshold").data()))
                        .isEqualTo(-1);
                assertFreshTrainingState(again);
            }
            SaeConfig config = topK.config().toBuilder()
                    .architecture(Architecture.JUMPRELU)
                    .jumpReluInitThreshold(0.25)
                    .build();
            try (Sae fromTopK = WarmStart.of(topK, config)) {
                assertSameParameters(fromTopK, topK);
                assertThat(fromTopK.state("log_threshold").toFloatArray()).containsOnly((float) Math.log(0.25));
            }
            // A BatchTopK SAE that never trained has no theta yet: the config's threshold it is.
            try (Sae untrained =
                            Sae.create(TestData.small(Architecture.BATCHTOPK).build());
                    Sae fromUntrained = WarmStart.of(untrained, config)) {
                assertThat(fromUntrained.state("log_threshold").toFloatArray()).containsOnly((float) Math.log(0.25));
            }
        }
    }

    @Test
    void theShapePrecisionAndNormalisationMustMatch() {
        try (Sae source = Sae.create(TestData.small(Architecture.BATCHTOPK).build())) {
            SaeConfig same = source.config();
            assertThatThrownBy(() ->
                            WarmStart.of(source, SaeConfig.builder(32, 256).k(8).build()))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("d_sae = 128")
                    .hasMessageContaining("d_sae = 256");
            assertThatThrownBy(() -> WarmStart.of(
                            source, same.toBuilder().doublePrecision(true).build()))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("float32")
                    .hasMessageContaining("float64");
            Normalization other =
                    same.normalization() == Normalization.NONE ? Normalization.PER_TOKEN : Normalization.NONE;
            assertThatThrownBy(() -> WarmStart.of(
                            source, same.toBuilder().normalization(other).build()))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("normalisation");
        }
    }
}
