package ai.batchtopk;

import static org.assertj.core.api.Assertions.assertThat;

import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/** The fused step must compute what the naive (reference-style) step computes. */
class FusedVsNaiveTest {
    private static final double STATE_TOLERANCE = 1e-4;
    private static final double LOSS_TOLERANCE = 1e-5;

    private static SaeConfig config(Architecture architecture, StepPath path) {
        return config(architecture, path, false);
    }

    private static SaeConfig config(Architecture architecture, StepPath path, boolean doublePrecision) {
        // A short dead window so that AuxK runs within 20 steps.
        return TestData.small(architecture)
                .lr(1e-3)
                .deadAfterTokens(256)
                .path(path)
                .doublePrecision(doublePrecision)
                .build();
    }

    @ParameterizedTest
    @EnumSource(Architecture.class)
    void gradientsAgree(Architecture architecture) {
        try (Arena arena = Arena.ofConfined();
                Sae fused = Sae.create(config(architecture, StepPath.FUSED));
                Sae naive = Sae.create(config(architecture, StepPath.NAIVE))) {
            Tensor batch = TestData.gaussian(arena, 64, 32, 42, 0.3f);
            StepMetrics f = fused.lossAndGradients(batch, true);
            StepMetrics n = naive.lossAndGradients(batch, true);
            assertThat(relative(f.loss(), n.loss()))
                    .as("loss %s vs %s", f.loss(), n.loss())
                    .isLessThan(LOSS_TOLERANCE);
            for (String name : fused.stateNames()) {
                if (name.startsWith("grad.")) {
                    assertThat(TestData.relativeDifference(fused.state(name), naive.state(name)))
                            .as(name)
                            .isLessThan(STATE_TOLERANCE);
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Architecture.class)
    void oneStepAgrees(Architecture architecture) {
        compare(architecture, 1);
    }

    @ParameterizedTest
    @EnumSource(Architecture.class)
    void twentyStepsAgree(Architecture architecture) {
        compare(architecture, 20);
    }

    /** In double precision the two paths differ only by rounding: far below the F32 tolerance. */
    @ParameterizedTest
    @EnumSource(Architecture.class)
    void twentyStepsAgreeToRoundingInDoublePrecision(Architecture architecture) {
        compare(architecture, 20, true, 1e-12, 1e-12);
    }

    private static void compare(Architecture architecture, int steps) {
        compare(architecture, steps, false, STATE_TOLERANCE, LOSS_TOLERANCE);
    }

    private static void compare(
            Architecture architecture,
            int steps,
            boolean doublePrecision,
            double stateTolerance,
            double lossTolerance) {
        try (Arena arena = Arena.ofConfined();
                Sae fused = Sae.create(config(architecture, StepPath.FUSED, doublePrecision));
                Sae naive = Sae.create(config(architecture, StepPath.NAIVE, doublePrecision))) {
            for (int step = 0; step < steps; step++) {
                Tensor batch = TestData.gaussian(arena, 64, 32, 500 + step, 0.3f);
                StepMetrics f = fused.trainStep(batch);
                StepMetrics n = naive.trainStep(batch);
                assertThat(relative(f.loss(), n.loss()))
                        .as("step %d: loss %s vs %s", step, f.loss(), n.loss())
                        .isLessThan(lossTolerance);
                assertThat(f.step()).isEqualTo(n.step());
                assertThat(f.dead()).as("step %d: dead latents", step).isEqualTo(n.dead());
            }
            for (String name : fused.stateNames()) {
                if (!name.startsWith("grad.")) {
                    assertThat(TestData.relativeDifference(fused.state(name), naive.state(name)))
                            .as("%s after %d steps", name, steps)
                            .isLessThan(stateTolerance);
                }
            }
        }
    }

    static List<Arguments> smallBatches() {
        List<Arguments> cases = new ArrayList<>();
        for (Architecture architecture : Architecture.values()) {
            for (Normalization normalization : Normalization.values()) {
                for (int rows = 1; rows <= 3; rows++) {
                    for (boolean doublePrecision : new boolean[] {true, false}) {
                        cases.add(Arguments.of(architecture, normalization, rows, doublePrecision));
                    }
                }
            }
        }
        return cases;
    }

    /**
     * Batches of one, two and three rows: at one row a broadcast of b_dec over the batch is b_dec
     * itself. AuxK runs from the second step on (a latent is dead after one silent batch).
     */
    @ParameterizedTest(name = "{0} {1} B={2} f64={3}")
    @MethodSource("smallBatches")
    void smallBatchesAgree(Architecture architecture, Normalization normalization, int rows, boolean doublePrecision) {
        // Float32 differs by rounding, which Adam magnifies where a gradient is as small as eps.
        double stateTolerance = doublePrecision ? 1e-10 : 2e-3;
        double lossTolerance = doublePrecision ? 1e-12 : LOSS_TOLERANCE;
        SaeConfig.Builder config = TestData.small(architecture)
                .lr(1e-3)
                .deadAfterTokens(rows)
                .normalization(normalization)
                .doublePrecision(doublePrecision);
        try (Arena arena = Arena.ofConfined();
                Sae fused = Sae.create(config.path(StepPath.FUSED).build());
                Sae naive = Sae.create(config.path(StepPath.NAIVE).build())) {
            boolean auxSeen = false;
            for (int step = 0; step < 20; step++) {
                Tensor batch = TestData.gaussian(arena, rows, 32, 700 + step, 0.3f);
                StepMetrics f = step == 0 ? fused.lossAndGradients(batch, true) : fused.trainStep(batch);
                StepMetrics n = step == 0 ? naive.lossAndGradients(batch, true) : naive.trainStep(batch);
                assertThat(relative(f.loss(), n.loss()))
                        .as("step %d: loss %s vs %s", step, f.loss(), n.loss())
                        .isLessThanOrEqualTo(lossTolerance);
                assertThat(f.l0()).as("step %d: L0", step).isEqualTo(n.l0());
                auxSeen |= f.auxLoss() > 0;
            }
            for (String name : fused.stateNames()) {
                if (!name.startsWith("grad.")) {
                    assertThat(TestData.relativeDifference(fused.state(name), naive.state(name)))
                            .as(name)
                            .isLessThanOrEqualTo(stateTolerance);
                }
            }
            if (architecture == Architecture.BATCHTOPK || architecture == Architecture.TOPK) {
                assertThat(auxSeen).as("AuxK ran").isTrue();
            }
        }
    }

    private static double relative(double a, double b) {
        return Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);
    }
}
