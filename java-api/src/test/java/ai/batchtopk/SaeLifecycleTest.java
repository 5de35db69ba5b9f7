package ai.batchtopk;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Map;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.Test;

class SaeLifecycleTest {

    @Test
    void closeIsIdempotentAndUseAfterCloseFails() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor batch = TestData.gaussian(arena, 16, 32, 1);
            Sae sae = Sae.create(TestData.small(Architecture.BATCHTOPK).build());
            sae.trainStep(batch);
            sae.close();
            sae.close();
            assertThat(sae.isClosed()).isTrue();
            List<ThrowingCallable> uses = List.of(
                    sae::config,
                    sae::dIn,
                    () -> sae.trainStep(batch),
                    () -> sae.trainStep(batch.data(), 16),
                    () -> sae.lossAndGradients(batch, true),
                    () -> sae.encode(batch, Selection.INFERENCE, arena.allocate(16 * 128 * 4)),
                    () -> sae.decode(arena.allocate(16 * 128 * 4), 16, arena.allocate(16 * 32 * 4)),
                    () -> sae.reconstruct(batch, Selection.INFERENCE, arena.allocate(16 * 32 * 4)),
                    () -> sae.setPath(StepPath.NAIVE),
                    () -> sae.setLearningRate(1e-3),
                    sae::stateNames,
                    () -> sae.state("W_enc"),
                    () -> sae.setState("b_dec", Tensor.ofFloats(new long[] {32}, new float[32])),
                    sae::theta,
                    () -> new Evaluator(sae));
            for (ThrowingCallable use : uses) {
                assertThatThrownBy(use)
                        .isInstanceOf(IllegalStateException.class)
                        .hasMessage("Sae is closed");
            }
        }
    }

    @Test
    void segmentsOfAClosedArenaNeverReachNativeCode() {
        try (Sae sae = Sae.create(TestData.small(Architecture.BATCHTOPK).build());
                Arena open = Arena.ofConfined()) {
            Arena closed = Arena.ofShared();
            Tensor batch = TestData.gaussian(closed, 16, 32, 1);
            MemorySegment out = closed.allocate(16 * 128 * 4);
            Tensor value = TestData.gaussianVector(closed, 32, 2);
            closed.close();
            Tensor good = TestData.gaussian(open, 16, 32, 1);
            List<Map.Entry<String, ThrowingCallable>> uses = List.of(
                    Map.entry("batch", () -> sae.trainStep(batch)),
                    Map.entry("batch", () -> sae.trainStep(batch.data(), 16)),
                    Map.entry("batch", () -> sae.lossAndGradients(batch, false)),
                    Map.entry("codes", () -> sae.encode(good, Selection.INFERENCE, out)),
                    Map.entry("codes", () -> sae.decode(out, 16, open.allocate(16 * 32 * 4))),
                    Map.entry("out", () -> sae.reconstruct(good, Selection.INFERENCE, out)),
                    Map.entry("the value of 'b_dec'", () -> sae.setState("b_dec", value)));
            for (Map.Entry<String, ThrowingCallable> use : uses) {
                assertThatThrownBy(use.getValue())
                        .isInstanceOf(IllegalStateException.class)
                        .hasMessage(use.getKey() + " is no longer valid: the Arena its memory came from (or the file "
                                + "mapping) is closed");
            }
            assertThat(sae.state("step").data().get(Tensor.I64_LE, 0)).isZero();
            assertThat(sae.trainStep(good).loss()).isFinite();
        }
    }

    @Test
    void configReflectsPathAndLearningRateChanges() {
        try (Sae sae = Sae.create(TestData.small(Architecture.TOPK).build())) {
            sae.setPath(StepPath.NAIVE);
            sae.setLearningRate(0.125);
            assertThat(sae.config().path()).isEqualTo(StepPath.NAIVE);
            assertThat(sae.config().lr()).isEqualTo(0.125);
            assertThat(sae.config().architecture()).isEqualTo(Architecture.TOPK);
            assertThatThrownBy(() -> sae.setLearningRate(-1)).isInstanceOf(IllegalArgumentException.class);
        }
    }

    @Test
    void stateNamesCoverParametersMomentsAndCounters() {
        try (Sae sae = Sae.create(TestData.small(Architecture.JUMPRELU).build())) {
            assertThat(sae.stateNames())
                    .contains(
                            "W_enc",
                            "b_enc",
                            "W_dec",
                            "b_dec",
                            "log_threshold",
                            "adam.m.W_enc",
                            "adam.v.log_threshold",
                            "step",
                            "theta",
                            "tokens_since_fired",
                            "grad.W_dec");
            assertThat(sae.stateInfo("W_enc").shape()).containsExactly(32, 128);
            assertThat(sae.stateInfo("W_dec").shape()).containsExactly(128, 32);
            assertThat(sae.stateInfo("step").shape()).isEmpty();
            assertThat(sae.state("step").data().get(Tensor.I64_LE, 0)).isZero();
        }
    }
}
