package ai.batchtopk;

import static org.assertj.core.api.Assertions.assertThat;

import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** {@link Sae#lossAndGradients} changes nothing: no bit of the state, nor of the batch; the same call, the same answer. */
class LossAndGradientsTest {

    static List<Arguments> cases() {
        List<Arguments> cases = new ArrayList<>();
        for (Architecture architecture : Architecture.values()) {
            for (StepPath path : StepPath.values()) {
                for (Normalization normalization : Normalization.values()) {
                    for (int rows = 1; rows <= 3; rows++) {
                        cases.add(Arguments.of(architecture, path, normalization, rows));
                    }
                }
            }
        }
        return cases;
    }

    @ParameterizedTest(name = "{0} {1} {2} B={3}")
    @MethodSource("cases")
    void changesNoStateAndGivesTheSameLossEveryTime(
            Architecture architecture, StepPath path, Normalization normalization, int rows) {
        SaeConfig config = TestData.small(architecture)
                .deadAfterTokens(rows)
                .normalization(normalization)
                .path(path)
                .build();
        try (Arena arena = Arena.ofConfined();
                Sae sae = Sae.create(config)) {
            // A few steps first, so that moments, counters and theta are not all zero.
            for (int step = 0; step < 3; step++) {
                sae.trainStep(TestData.gaussian(arena, rows, 32, 60 + step, 0.3f));
            }
            Map<String, Tensor> before = stateWithoutGradients(sae);
            Tensor batch = TestData.gaussian(arena, rows, 32, 9, 0.3f);
            MemorySegment batchBefore = arena.allocate(batch.byteSize()).copyFrom(batch.data());

            StepMetrics first = sae.lossAndGradients(batch, true);
            for (int call = 0; call < 3; call++) {
                StepMetrics again = sae.lossAndGradients(batch, call % 2 == 1);
                assertThat(again).as("call %d", call + 2).isEqualTo(first);
                assertUnchanged(sae, before);
            }
            assertThat(first.step()).isEqualTo(3);
            assertThat(batch.data().mismatch(batchBefore))
                    .as("the batch was written to")
                    .isEqualTo(-1);
        }
    }

    private static Map<String, Tensor> stateWithoutGradients(Sae sae) {
        Map<String, Tensor> state = new LinkedHashMap<>();
        for (String name : sae.stateNames()) {
            if (!name.startsWith("grad.")) {
                state.put(name, sae.state(name));
            }
        }
        return state;
    }

    private static void assertUnchanged(Sae sae, Map<String, Tensor> before) {
        for (Map.Entry<String, Tensor> e : before.entrySet()) {
            long mismatch = sae.state(e.getKey()).data().mismatch(e.getValue().data());
            assertThat(mismatch)
                    .as("'%s' changed from byte %d on", e.getKey(), mismatch)
                    .isEqualTo(-1L);
        }
    }
}
