package ai.batchtopk;

import static org.assertj.core.api.Assertions.assertThat;

import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Training on a CUDA device from Java: the fused CUDA step against the naive step on the same GPU, and
 * state moved from the CPU to the GPU and back. Tagged "gpu": left out of the default build (pom.xml's
 * surefire.excludedGroups); benchmarks/gpu/run.sh runs it on a GPU machine.
 */
@Tag("gpu")
class CudaTrainingTest {

    private static SaeConfig config(Architecture architecture, StepPath path, Device device) {
        return TestData.small(architecture)
                .lr(1e-3)
                .deadAfterTokens(256)
                .path(path)
                .device(device)
                .build();
    }

    @ParameterizedTest
    @EnumSource(
            value = Architecture.class,
            names = {"BATCHTOPK", "TOPK"})
    void fusedFp32MatchesNaiveOnTheSameGpu(Architecture architecture) {
        assertThat(NativeLibrary.cudaAvailable()).as(NativeLibrary.buildInfo()).isTrue();
        try (Arena arena = Arena.ofConfined();
                Sae fused = Sae.create(config(architecture, StepPath.FUSED, Device.CUDA));
                Sae naive = Sae.create(config(architecture, StepPath.NAIVE, Device.CUDA))) {
            fused.setGpuPrecision(GpuPrecision.FP32);
            naive.setGpuPrecision(GpuPrecision.FP32);
            for (int step = 0; step < 100; step++) {
                Tensor batch = TestData.gaussian(arena, 64, 32, 100 + step, 0.3f);
                StepMetrics f = fused.trainStep(batch);
                StepMetrics n = naive.trainStep(batch);
                if (step == 0) {
                    // From the same state: the same selection, and the loss to float rounding.
                    assertThat(f.l0()).isEqualTo(n.l0());
                    assertThat(f.dead()).isEqualTo(n.dead());
                    assertThat(Math.abs(f.loss() - n.loss())).isLessThan(1e-5 * Math.max(1, Math.abs(n.loss())));
                }
                // Then the two drift apart by rounding only.
                assertThat(Math.abs(f.loss() - n.loss()))
                        .as("loss at step %d", step + 1)
                        .isLessThan(1e-2 * Math.abs(n.loss()));
            }
            for (String name : new String[] {"W_enc", "W_dec"}) {
                assertThat(TestData.relativeDifference(fused.state(name), naive.state(name)))
                        .as(name)
                        .isLessThan(1e-2);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(
            value = Architecture.class,
            names = {"BATCHTOPK", "TOPK"})
    void cpuStateResumesOnTheGpuAndComesBack(Architecture architecture) {
        try (Arena arena = Arena.ofConfined();
                Sae cpu = Sae.create(config(architecture, StepPath.FUSED, Device.CPU));
                Sae gpu = Sae.create(config(architecture, StepPath.FUSED, Device.CUDA));
                Sae back = Sae.create(config(architecture, StepPath.FUSED, Device.CPU))) {
            gpu.setGpuPrecision(GpuPrecision.FP32);
            for (int step = 0; step < 3; step++) cpu.trainStep(TestData.gaussian(arena, 64, 32, step, 0.3f));
            copy(cpu, gpu);
            for (int step = 3; step < 6; step++) {
                Tensor batch = TestData.gaussian(arena, 64, 32, step, 0.3f);
                StepMetrics c = cpu.trainStep(batch);
                StepMetrics g = gpu.trainStep(batch);
                assertThat(g.step()).isEqualTo(c.step());
                assertThat(g.l0()).isEqualTo(c.l0());
            }
            copy(gpu, back);
            for (String name : gpu.stateNames()) {
                if (!name.startsWith("grad.")) {
                    assertThat(TestData.relativeDifference(back.state(name), gpu.state(name)))
                            .as(name)
                            .isZero();
                    assertThat(TestData.relativeDifference(gpu.state(name), cpu.state(name)))
                            .as(name)
                            .isLessThan(2e-3);
                }
            }
        }
    }

    private static void copy(Sae from, Sae to) {
        for (String name : from.stateNames()) {
            if (!name.startsWith("grad.")) to.setState(name, from.state(name));
        }
    }
}
