package ai.batchtopk.training;

import ai.batchtopk.Architecture;
import ai.batchtopk.Device;
import ai.batchtopk.GpuPrecision;
import ai.batchtopk.Normalization;
import ai.batchtopk.StepPath;
import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine.Option;

/**
 * The {@code train} options that make the SAEs: their settings ({@link ai.batchtopk.SaeConfig}; null when
 * left out, for the library's default or the {@code --init} SAE's value), the SAE to start from, and the
 * {@code --sweep} grid.
 */
final class SaeOptions {
    @Option(
            names = "--arch",
            paramLabel = "ARCH",
            converter = Converters.ArchitectureConverter.class,
            description =
                    "batchtopk, topk, jumprelu, relu or matryoshka-batchtopk (default: batchtopk, or the --init SAE's; another one"
                            + " starts a new run from the --init SAE's parameters).")
    Architecture architecture;

    @Option(names = "--d-sae", paramLabel = "N", description = "Number of latents (required without --init).")
    Long dSae;

    @Option(
            names = "--k",
            paramLabel = "K",
            description = "Active latents per token (batchtopk, topk, matryoshka-batchtopk).")
    Integer k;

    @Option(
            names = "--l0-coeff",
            paramLabel = "X",
            description = "jumprelu: weight of the L0 penalty (the library's default if left out).")
    Double l0Coeff;

    @Option(
            names = "--l1-coeff",
            paramLabel = "X",
            description = "relu: weight of the L1 penalty (the library's default if left out).")
    Double l1Coeff;

    @Option(
            names = "--matryoshka-widths",
            paramLabel = "W1,W2,...",
            split = ",",
            description = "matryoshka-batchtopk: the cumulative prefix widths, strictly increasing, the last equal to"
                    + " --d-sae (required by that architecture).")
    List<Long> matryoshkaWidths;

    @Option(
            names = "--normalize",
            paramLabel = "MODE",
            converter = Converters.NormalizationConverter.class,
            description = "per-token or none (default: per-token).")
    Normalization normalization;

    @Option(
            names = "--k-aux",
            paramLabel = "N",
            description = "Dead latents used by AuxK per token (default: 512; 0: off).")
    Integer kAux;

    @Option(names = "--aux-coeff", paramLabel = "X", description = "Weight of the AuxK loss (default: 1/32).")
    Double auxCoeff;

    @Option(
            names = "--dead-after-tokens",
            paramLabel = "N",
            description = "A latent not selected for this many tokens is dead (default: 20480).")
    Long deadAfterTokens;

    @Option(names = "--seed", paramLabel = "S", description = "Seed of the initial parameters and of the shuffle.")
    Long seed;

    @Option(names = "--device", paramLabel = "DEVICE", description = "cpu or cuda (default: cpu).")
    Device device;

    @Option(
            names = "--gpu-precision",
            paramLabel = "P",
            description = "With --device cuda: bf16 (encoder GEMM on bf16 inputs, fp32 accumulation; default) or fp32.")
    GpuPrecision gpuPrecision;

    @Option(names = "--path", paramLabel = "PATH", description = "fused or naive step implementation (default: fused).")
    StepPath path;

    @Option(
            names = "--init",
            paramLabel = "SAE_DIR",
            description =
                    "Start from an SAELens directory (or a SAELens batchtopk training checkpoint); resume it if it"
                            + " is a checkpoint of ours of the same architecture.")
    Path init;

    @Option(
            names = "--sweep",
            paramLabel = "NAME=V1,V2,...",
            description =
                    "Train several SAEs in one pass over the same batches: arch=batchtopk,topk,jumprelu, d-sae=2048,4096,"
                            + " k=16,32,64 (architectures that select k latents), l0-coeff=... (jumprelu), l1-coeff=... (relu);"
                            + " each architecture is crossed with d-sae and the values of its own parameter; each SAE goes to"
                            + " DIR/<arch>-dsae<N>-k<K>/ (jumprelu: -l0c<X>, relu: -l1c<X>).")
    List<String> sweep;

    Architecture architecture() {
        return architecture != null ? architecture : Architecture.BATCHTOPK;
    }

    boolean sweeping() {
        return sweep != null && !sweep.isEmpty();
    }
}
