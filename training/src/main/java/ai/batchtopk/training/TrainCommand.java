package ai.batchtopk.training;

import ai.batchtopk.Architecture;
import ai.batchtopk.Device;
import ai.batchtopk.NativeLibrary;
import ai.batchtopk.Normalization;
import ai.batchtopk.Sae;
import ai.batchtopk.SaeConfig;
import ai.batchtopk.StepMetrics;
import ai.batchtopk.StepPath;
import ai.batchtopk.io.Json;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code batchtopk train}: trains an SAE on .npy activation files and writes it to {@code --out} as an
 * SAELens directory that is also a checkpoint ({@code --init} it to go on), with {@code metrics.jsonl}.
 *
 * <p>Options left out take the library's defaults ({@link SaeConfig#builder}); with {@code --init} they
 * keep the saved SAE's values instead. Nullable fields are how "given" is told from "left out".
 */
@Command(name = "train", sortOptions = false, usageHelpAutoWidth = true,
        description = "Train an SAE on activation files (.npy, [tokens, d], f32/f16/f64/bf16).")
final class TrainCommand implements Callable<Integer> {
    @Mixin
    CommonOptions common;

    @Spec
    CommandSpec spec;

    @Option(names = "--data", required = true, paramLabel = "FILE.npy",
            description = "Activations; repeat to concatenate files of the same width and dtype.")
    List<Path> data;

    @Option(names = "--arch", paramLabel = "ARCH", converter = Converters.ArchitectureConverter.class,
            description = "batchtopk, topk, jumprelu or relu (default: batchtopk, or the --init SAE's).")
    Architecture architecture;

    @Option(names = "--d-sae", paramLabel = "N", description = "Number of latents (required without --init).")
    Long dSae;

    @Option(names = "--k", paramLabel = "K", description = "Active latents per token (batchtopk, topk).")
    Integer k;

    @Option(names = "--batch-size", required = true, paramLabel = "B", description = "Tokens per step.")
    long batchSize;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Length length;

    /** How long to train: a step count or a token count. */
    static final class Length {
        @Option(names = "--steps", required = true, paramLabel = "N", description = "Optimizer steps to take.")
        Long steps;

        @Option(names = "--tokens", required = true, paramLabel = "N",
                description = "Tokens to train on: ceil(N / batch size) steps.")
        Long tokens;
    }

    @Option(names = "--lr", paramLabel = "LR", description = "Adam learning rate (default: 3e-4).")
    Double lr;

    @Option(names = "--seed", paramLabel = "S", description = "Seed of the initial parameters and of the shuffle.")
    Long seed;

    @Option(names = "--normalize", paramLabel = "MODE", converter = Converters.NormalizationConverter.class,
            description = "per-token or none (default: per-token).")
    Normalization normalization;

    @Option(names = "--shuffle", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "Visit rows in a seeded random order, new each epoch (default), or in file order.")
    boolean shuffle;

    @Option(names = "--init", paramLabel = "SAE_DIR",
            description = "Start from an SAELens directory; resume it if it is a checkpoint of ours.")
    Path init;

    @Option(names = "--device", paramLabel = "DEVICE", description = "cpu or cuda (default: cpu).")
    Device device;

    @Option(names = "--path", paramLabel = "PATH", description = "fused or naive step implementation (default: fused).")
    StepPath path;

    @Option(names = "--k-aux", paramLabel = "N", description = "Dead latents used by AuxK per token (default: 512; 0: off).")
    Integer kAux;

    @Option(names = "--aux-coeff", paramLabel = "X", description = "Weight of the AuxK loss (default: 1/32).")
    Double auxCoeff;

    @Option(names = "--dead-after-tokens", paramLabel = "N",
            description = "A latent not selected for this many tokens is dead (default: 20480).")
    Long deadAfterTokens;

    @Option(names = "--log-every", paramLabel = "N",
            description = "A metrics line every N steps (default: every step up to 200 steps, else ~200 lines).")
    Long logEvery;

    @Option(names = "--threads", paramLabel = "N", description = "Native intra-op threads (default: the number of cores; some libtorch builds default to 1).")
    Integer threads;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Where the SAE and metrics go.")
    Path out;

    @Override
    public Integer call() throws IOException {
        checkOptions();
        NativeLibrary.setNumThreads(threads != null ? threads : Runtime.getRuntime().availableProcessors());
        if (device == Device.CUDA && !NativeLibrary.cudaAvailable()) {
            throw new CommandFailure("--device cuda: no CUDA device is usable by this build (" + NativeLibrary.buildInfo() + ")");
        }
        try (Arena arena = Arena.ofConfined()) {
            ActivationData activations = ActivationData.open(data, arena);
            if (batchSize > activations.rows()) {
                throw new CommandFailure("--batch-size " + batchSize + " is larger than the data ("
                        + activations.describe() + ")");
            }
            SaeStart start = init == null ? SaeStart.fresh(newConfig(activations.width())) : SaeStart.load(init, this::adjust);
            try (Sae sae = start.sae()) {
                checkAgainstInit(sae, activations);
                return train(sae, start, activations, arena);
            }
        }
    }

    private int train(Sae sae, SaeStart start, ActivationData activations, Arena arena) throws IOException {
        OutputDirectory output = OutputDirectory.prepare(out);
        boolean inPlace = init != null && output.isSameAs(init);
        DataPosition position = start.state().positionIn(activations.rows(), shuffle);
        long shuffleSeed = sae.config().seed();
        BatchSource batches = shuffle
                ? new ShuffledBatches(activations, batchSize, shuffleSeed, position, arena)
                : new SequentialBatches(activations, batchSize, position, arena);
        long steps = steps();
        ProgressBar progress = ProgressBar.terminal() ? new ProgressBar(spec.commandLine().getErr(), steps) : null;
        Trainer.Result result;
        try (MetricsLog log = MetricsLog.open(output.metricsFile(), inPlace)) {
            result = new Trainer(sae, batches, LogSchedule.of(steps, logEvery), log, progress).run(start.state().tokens());
        }
        ResumeState state = new ResumeState(result.tokens(), activations.rows(), shuffle, result.position());
        output.save(sae, metadata(), state.toExtra());
        spec.commandLine().getOut().println(Json.write(summary(result, output.path())));
        return Main.OK;
    }

    /** Checks the options on their own, before any file is read: these are usage errors (exit 2). */
    private void checkOptions() {
        positive("--batch-size", batchSize);
        if (length.steps != null) {
            positive("--steps", length.steps);
        } else {
            positive("--tokens", length.tokens);
        }
        if (dSae != null) {
            positive("--d-sae", dSae);
        }
        if (k != null) {
            positive("--k", k);
            if (dSae != null && k > dSae) {
                throw usage("--k " + k + " is larger than --d-sae " + dSae + " (k must be at most d_sae)");
            }
        }
        if (lr != null && !(Double.isFinite(lr) && lr > 0)) {
            throw usage("--lr must be a finite positive number, got " + lr);
        }
        if (kAux != null && kAux < 0) {
            throw usage("--k-aux must not be negative (0 turns AuxK off), got " + kAux);
        }
        if (auxCoeff != null && !(Double.isFinite(auxCoeff) && auxCoeff >= 0)) {
            throw usage("--aux-coeff must be a finite number >= 0, got " + auxCoeff);
        }
        if (deadAfterTokens != null) {
            positive("--dead-after-tokens", deadAfterTokens);
        }
        if (logEvery != null) {
            positive("--log-every", logEvery);
        }
        if (threads != null) {
            positive("--threads", threads);
        }
        if (init == null) {
            if (dSae == null) {
                throw usage("--d-sae is required (unless --init gives an SAE)");
            }
            Architecture arch = architecture();
            if (k == null && (arch == Architecture.BATCHTOPK || arch == Architecture.TOPK)) {
                throw usage("--k is required for --arch " + arch.cliName());
            }
        }
    }

    private void positive(String option, long value) {
        if (value <= 0) {
            throw usage(option + " must be positive, got " + value);
        }
    }

    private ParameterException usage(String message) {
        return new ParameterException(spec.commandLine(), message);
    }

    private Architecture architecture() {
        return architecture != null ? architecture : Architecture.BATCHTOPK;
    }

    private long steps() {
        return length.steps != null ? length.steps : Math.ceilDiv(length.tokens, batchSize);
    }

    /** The config of a new SAE: what was given, library defaults for the rest. */
    private SaeConfig newConfig(long dIn) {
        SaeConfig.Builder builder = SaeConfig.builder(dIn, dSae).architecture(architecture());
        if (k != null) {
            builder.k(k);
        }
        if (normalization != null) {
            builder.normalization(normalization);
        }
        if (seed != null) {
            builder.seed(seed);
        }
        try {
            return adjust(builder).build();
        } catch (IllegalArgumentException e) {
            throw usage(e.getMessage());
        }
    }

    /** The training settings this run sets, over a new or a saved config. */
    private SaeConfig.Builder adjust(SaeConfig.Builder builder) {
        if (lr != null) builder.lr(lr);
        if (device != null) builder.device(device);
        if (path != null) builder.path(path);
        if (kAux != null) builder.kAux(kAux);
        if (auxCoeff != null) builder.auxCoeff(auxCoeff);
        if (deadAfterTokens != null) builder.deadAfterTokens(deadAfterTokens);
        // The saved seed made the saved parameters; a new one here only changes the shuffle order.
        if (seed != null) builder.seed(seed);
        return builder;
    }

    /** What --init gave must fit the data and must not contradict options given explicitly. */
    private void checkAgainstInit(Sae sae, ActivationData activations) {
        if (init == null) {
            return;
        }
        if (sae.dIn() != activations.width()) {
            throw new CommandFailure("the data has width d = " + activations.width() + " (" + activations.describe()
                    + ") but the --init SAE " + init + " has d_in = " + sae.dIn());
        }
        SaeConfig saved = sae.config();
        if (architecture != null && architecture != saved.architecture()) {
            throw conflict("--arch " + architecture.cliName(), "architecture " + saved.architecture().cliName());
        }
        if (dSae != null && dSae != saved.dSae()) {
            throw conflict("--d-sae " + dSae, "d_sae = " + saved.dSae());
        }
        boolean usesK = saved.architecture() == Architecture.BATCHTOPK || saved.architecture() == Architecture.TOPK;
        if (k != null && usesK && k != saved.k()) {
            throw conflict("--k " + k, "k = " + saved.k());
        }
        if (normalization != null && normalization != saved.normalization()) {
            throw conflict("--normalize " + normalization.cliName(), "normalization " + saved.normalization().cliName());
        }
    }

    private ParameterException conflict(String given, String saved) {
        return usage(given + " conflicts with the --init SAE " + init + ", which has " + saved
                + "; leave the option out or give the saved value");
    }

    /** SAELens's metadata in cfg.json: where the activations came from. */
    private Map<String, Object> metadata() {
        Map<String, Object> metadata = new LinkedHashMap<>();
        metadata.put("dataset_path", data.stream().map(p -> p.toAbsolutePath().normalize().toString())
                .collect(Collectors.joining(",")));
        return metadata;
    }

    /** The one line printed at the end (stdout, JSON). */
    private static Map<String, Object> summary(Trainer.Result result, Path out) {
        StepMetrics m = result.last();
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("step", m.step());
        line.put("tokens", result.tokens());
        line.put("loss", MetricsLog.finite(m.loss()));
        line.put("mse", MetricsLog.finite(m.mse()));
        line.put("l0", MetricsLog.finite(m.l0()));
        line.put("dead", m.dead());
        line.put("theta", MetricsLog.finite(m.theta()));
        line.put("tokens_per_s", MetricsLog.finite(result.tokensPerSecond()));
        line.put("seconds", result.seconds());
        line.put("out", out.toString());
        return line;
    }
}
