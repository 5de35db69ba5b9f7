package ai.batchtopk.training;

import ai.batchtopk.Architecture;
import ai.batchtopk.Device;
import ai.batchtopk.NativeLibrary;
import ai.batchtopk.Normalization;
import ai.batchtopk.ProcessGroup;
import ai.batchtopk.SaeConfig;
import ai.batchtopk.StepPath;
import ai.batchtopk.extract.Site;
import ai.batchtopk.io.JsonCodec;
import ai.batchtopk.train.RunFile;
import ai.batchtopk.train.RunResult;
import ai.batchtopk.train.RunSpec;
import ai.batchtopk.train.TrainingRun;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.Spec;

/**
 * {@code batchtopk train}: trains an SAE (or, with {@code --sweep}, several in one pass over the data)
 * on memory-mapped activations and writes it to {@code --out} as an SAELens directory that is also a
 * checkpoint, with {@code metrics.jsonl} (and {@code eval.jsonl} with {@code --eval-data}), plus
 * {@code run.json}: the arguments, so that {@code --resume DIR} continues a killed run exactly
 * ({@code --init} starts a new run from a checkpoint instead).
 *
 * <p>This class declares the options and hands them on: {@link TrainSpecs} turns them into the library's
 * {@link RunSpec}, {@link TrainingRun} runs it. Options left out take the library's defaults
 * ({@link SaeConfig#builder}); with {@code --init} they keep the saved SAE's values instead. Nullable
 * fields are how "given" is told from "left out".
 */
@Command(
        name = "train",
        sortOptions = false,
        usageHelpAutoWidth = true,
        description = "Train SAEs on activations ([tokens, d], f32/f16/f64/bf16) in .npy or .safetensors files or"
                + " directories of them; or go on with a killed run (--resume DIR).")
final class TrainCommand implements Callable<Integer> {
    @Mixin
    CommonOptions common;

    @Spec
    CommandSpec spec;

    @ArgGroup(exclusive = true, multiplicity = "0..1")
    Input input;

    /**
     * What to train on: activation files or text (one of them; required unless --resume, which keeps the
     * run's own, so picocli checks only that not both are given).
     */
    static final class Input {
        @Option(
                names = "--data",
                required = true,
                paramLabel = "FILE|DIR",
                description = "Activations: a .npy file, a .safetensors file (its one 2-D float tensor, or FILE:NAME),"
                        + " or a directory of such shards (sorted by name); repeat to concatenate (same width and"
                        + " dtype). This or --text is required.")
        List<Path> data;

        @Option(
                names = "--text",
                required = true,
                paramLabel = "FILE|DIR",
                description = "Instead of --data: text files (a directory is read recursively; documents split at"
                        + " blank lines) run through --model as training goes, its --layer/--site activations"
                        + " streamed into the SAEs (in document order, no shuffle; over and over if the budget is"
                        + " longer). Repeatable.")
        List<Path> text;
    }

    @Option(
            names = "--model",
            paramLabel = "NAME",
            description = "With --text: the model (default: minilm, all-MiniLM-L6-v2).")
    String model;

    @Option(
            names = "--layer",
            paramLabel = "L",
            description = "With --text: the layer, 0-based (required with --text).")
    Integer layer;

    @Option(
            names = "--site",
            paramLabel = "resid|mlp",
            description =
                    "With --text: residual stream after the layer (d = 384) or MLP activations (d = 1536) (default: resid).")
    Site site;

    @Option(
            names = "--max-length",
            paramLabel = "T",
            description = "With --text: tokens per model sequence, [CLS]/[SEP] included (default: 128).")
    Integer maxLength;

    @Option(
            names = "--extract-batch-size",
            paramLabel = "N",
            description = "With --text: sequences per model run (default: 32).")
    Integer extractBatchSize;

    @Option(
            names = "--encoding",
            paramLabel = "CHARSET",
            description = "With --text: encoding of the text files (default: UTF-8; e.g. latin-1).")
    String encoding;

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

    @Option(names = "--batch-size", paramLabel = "B", description = "Tokens per step (required).")
    Long batchSize;

    @ArgGroup(exclusive = true, multiplicity = "0..1")
    Length length;

    /** How long to train: a step count or a token count. */
    static final class Length {
        @Option(
                names = "--steps",
                required = true,
                paramLabel = "N",
                description = "Optimizer steps to take (this or --tokens is required).")
        Long steps;

        @Option(
                names = "--tokens",
                required = true,
                paramLabel = "N",
                description = "Tokens to train on: ceil(N / batch size) steps.")
        Long tokens;
    }

    @Option(names = "--lr", paramLabel = "LR", description = "Adam learning rate (default: 3e-4).")
    Double lr;

    @Option(names = "--seed", paramLabel = "S", description = "Seed of the initial parameters and of the shuffle.")
    Long seed;

    @Option(
            names = "--normalize",
            paramLabel = "MODE",
            converter = Converters.NormalizationConverter.class,
            description = "per-token or none (default: per-token).")
    Normalization normalization;

    @Option(
            names = "--shuffle",
            negatable = true,
            defaultValue = "true",
            fallbackValue = "true",
            description = "Visit rows in a seeded random order, new each epoch (default), or in file order.")
    boolean shuffle;

    @Option(
            names = "--shuffle-buffer",
            paramLabel = "ROWS",
            defaultValue = "0",
            description = "Shuffle within windows of ROWS consecutive rows (windows in random order) instead of"
                    + " over all rows: a working set of ROWS rows; 0 (default): one permutation of all rows.")
    long shuffleBuffer;

    @Option(
            names = "--prefetch",
            paramLabel = "N",
            defaultValue = "2",
            description = "Batches a background thread prepares ahead into off-heap buffers (default: 2; 0: none).")
    int prefetch;

    @Option(
            names = "--lr-warmup-steps",
            paramLabel = "N",
            defaultValue = "0",
            description = "Raise the learning rate linearly from 0 over the first N steps (default: 0).")
    long lrWarmupSteps;

    @Option(
            names = "--lr-decay",
            paramLabel = "SHAPE",
            defaultValue = "none",
            description = "none, linear or cosine: decay the learning rate after the warm-up (default: none).")
    String lrDecay;

    @Option(
            names = "--lr-end-fraction",
            paramLabel = "X",
            defaultValue = "0",
            description = "With --lr-decay, the rate falls towards X * lr at the end of the run (default: 0).")
    double lrEndFraction;

    @Option(
            names = "--checkpoint-every",
            paramLabel = "N",
            defaultValue = "0",
            description = "Save a checkpoint every N steps (atomically; default 0: only at the end).")
    long checkpointEvery;

    @Option(
            names = "--resume",
            paramLabel = "DIR",
            description = "Continue the run whose --out is DIR exactly where its last checkpoint stopped, with its"
                    + " saved options (run.json); only --threads and --prefetch may be given with it.")
    Path resume;

    @Option(
            names = "--eval-data",
            paramLabel = "FILE|DIR",
            description = "Held-out activations to evaluate on (same forms as --data); lines go to eval.jsonl.")
    List<Path> evalData;

    @Option(
            names = "--eval-every",
            paramLabel = "N",
            description = "Evaluate every N steps and at the end (default: about 10 times per run).")
    Long evalEvery;

    @Option(
            names = "--eval-tokens",
            paramLabel = "N",
            defaultValue = "16384",
            description = "Rows of --eval-data to evaluate on: the first N (default: 16384).")
    long evalTokens;

    @Option(
            names = "--sweep",
            paramLabel = "NAME=V1,V2,...",
            description =
                    "Train several SAEs in one pass over the same batches: arch=batchtopk,topk,jumprelu, d-sae=2048,4096,"
                            + " k=16,32,64 (architectures that select k latents), l0-coeff=... (jumprelu), l1-coeff=... (relu);"
                            + " each architecture is crossed with d-sae and the values of its own parameter; each SAE goes to"
                            + " DIR/<arch>-dsae<N>-k<K>/ (jumprelu: -l0c<X>, relu: -l1c<X>).")
    List<String> sweep;

    @Option(
            names = "--init",
            paramLabel = "SAE_DIR",
            description =
                    "Start from an SAELens directory (or a SAELens batchtopk training checkpoint); resume it if it"
                            + " is a checkpoint of ours of the same architecture.")
    Path init;

    @Option(names = "--device", paramLabel = "DEVICE", description = "cpu or cuda (default: cpu).")
    Device device;

    @Option(names = "--path", paramLabel = "PATH", description = "fused or naive step implementation (default: fused).")
    StepPath path;

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

    @Option(
            names = "--log-every",
            paramLabel = "N",
            description = "A metrics line every N steps (default: every step up to 200 steps, else ~200 lines).")
    Long logEvery;

    @Option(
            names = "--threads",
            paramLabel = "N",
            description =
                    "Native intra-op threads (default: the native library's own; OpenBLAS runs the matrix products on all cores either way).")
    Integer threads;

    @Option(
            names = "--out",
            paramLabel = "DIR",
            description = "Where the SAE and metrics go (required; with --sweep, one subdirectory per SAE)."
                    + " It must be new or empty (or the --init directory, to go on in place).")
    Path out;

    @Option(
            names = "--overwrite",
            description = "Replace the training run already in --out (only if it holds nothing but a run's files).")
    boolean overwrite;

    @Option(
            names = "--allow-changed-data",
            description =
                    "With --resume: go on even though the data files changed since the checkpoint (a warning says how).")
    boolean allowChangedData;

    @Option(
            names = "--nproc",
            paramLabel = "N",
            description = "Train with N worker processes on this machine (a launcher starts and supervises them;"
                    + " --batch-size stays the global batch). Workers read torchrun's WORLD_SIZE, RANK, LOCAL_RANK,"
                    + " MASTER_ADDR, MASTER_PORT, so torchrun, Slurm or Kubernetes can start them instead.")
    Integer nproc;

    @Option(
            names = "--master-port",
            paramLabel = "PORT",
            description = "With --nproc: the port the workers meet on (default: a free one).")
    Integer masterPort;

    @Option(
            names = "--parallel",
            paramLabel = "MODE",
            description = "How several workers share the work: data (each its rows of every batch; the default).")
    String parallel;

    /** This process's rank of a distributed run; null for a run of its own. */
    ProcessGroup group;

    @Override
    public Integer call() throws IOException {
        PrintWriter stdout = spec.commandLine().getOut();
        PrintWriter stderr = spec.commandLine().getErr();
        if (allowChangedData && resume == null) {
            throw usage("--allow-changed-data only applies with --resume");
        }
        Optional<WorkerEnvironment> worker = DistributedOptions.check(this, System.getenv());
        if (nproc != null && nproc > 1) {
            return WorkerLauncher.run(this, stdout, stderr);
        }
        if (worker.isPresent()) {
            return DistributedWorker.run(this, worker.get(), () -> train(stdout, stderr));
        }
        return train(stdout, stderr);
    }

    private int train(PrintWriter stdout, PrintWriter stderr) throws IOException {
        if (resume == null) {
            return execute(false, stdout, stderr);
        }
        checkResumeOptions();
        // A kill between the two renames of a checkpoint save leaves the run in DIR.incoming: move it back.
        DistributedWorker.recover(resume, group);
        if (!Files.isDirectory(resume)) {
            throw new CommandFailure("--resume " + resume + ": no such directory");
        }
        List<String> args = RunFile.readArgs(resume);
        if (args == null) { // a run started from Java: it saved its specification
            return report(TrainingRun.resume(resume, new TrainListener(stderr, ProgressBar.terminal()), group), stdout);
        }
        return savedRun(args).execute(true, stdout, stderr);
    }

    /** --resume DIR: only the options that do not change the run may come with it. */
    void checkResumeOptions() {
        for (OptionSpec option : spec.commandLine().getParseResult().matchedOptions()) {
            String name = option.longestName();
            if (!Set.of(
                            "--resume",
                            "--threads",
                            "--prefetch",
                            "--debug",
                            "--allow-changed-data",
                            "--nproc",
                            "--master-port",
                            "--parallel")
                    .contains(name)) {
                throw usage(name + " cannot be given with --resume: the run goes on with the options it was started"
                        + " with (" + RunFile.FILE + "); use --init to start a new run from a checkpoint");
            }
        }
    }

    /** The command line saved in run.json, parsed again, with what may change on resuming. */
    private TrainCommand savedRun(List<String> args) {
        CommandLine saved = new CommandLine(new TrainCommand()).setCaseInsensitiveEnumValuesAllowed(true);
        try {
            saved.parseArgs(args.toArray(String[]::new));
        } catch (ParameterException e) {
            throw new CommandFailure(
                    resume.resolve(RunFile.FILE) + ": the saved arguments no longer parse: " + e.getMessage(), e);
        }
        TrainCommand run = saved.getCommand();
        run.out = resume;
        run.allowChangedData = allowChangedData;
        run.group = group;
        ParseResult given = spec.commandLine().getParseResult();
        if (given.hasMatchedOption("--threads")) {
            run.threads = threads;
        }
        if (given.hasMatchedOption("--prefetch")) {
            run.prefetch = prefetch;
        }
        if (given.hasMatchedOption("--parallel")) {
            run.parallel = parallel;
        }
        return run;
    }

    private int execute(boolean resuming, PrintWriter stdout, PrintWriter stderr) throws IOException {
        TrainOptionChecks.check(this);
        ResourceLimits.checkThreads(spec.commandLine(), threads);
        // Without --threads, the native library's own default (what a program using the library and the JMH step
        // get): forcing one OpenMP thread per core oversubscribes the cores, since OpenBLAS runs the matrix
        // products on its own pool of one thread per core, and the two pools' idle threads spin; on a busy
        // 2-core machine that made `train` ~15-35% slower than the same loop at the default (BENCHMARKS.md).
        if (threads != null) {
            NativeLibrary.setNumThreads(threads);
        }
        if (device == Device.CUDA && !NativeLibrary.cudaAvailable()) {
            throw new CommandFailure(
                    "--device cuda: no CUDA device is usable by this build (" + NativeLibrary.buildInfo() + ")");
        }
        if (device == Device.CUDA && group != null) {
            throw new CommandFailure("--device cuda: distributed training runs on the CPU (Gloo) in this build;"
                    + " NCCL for CUDA is not available yet");
        }
        RunSpec run = new TrainSpecs(this, resuming).build(new TrainListener(stderr, ProgressBar.terminal()));
        run = "latents".equals(parallel) ? run.withLatentSharding(group) : run.withGroup(group);
        return report(resuming ? TrainingRun.resume(run, allowChangedData) : TrainingRun.start(run), stdout);
    }

    /** Trains the run and prints its summary line. */
    private static int report(TrainingRun opened, PrintWriter stdout) throws IOException {
        try (TrainingRun run = opened) {
            RunResult result = run.train();
            if (run.spec().writes()) { // one summary line for a distributed run: rank 0's
                stdout.println(JsonCodec.write(TrainSummary.of(result, run.spec())));
            }
        }
        return Main.OK;
    }

    ParameterException usage(String message) {
        return new ParameterException(spec.commandLine(), message);
    }

    Architecture architecture() {
        return architecture != null ? architecture : Architecture.BATCHTOPK;
    }

    long steps() {
        return length.steps != null ? length.steps : Math.ceilDiv(length.tokens, batchSize);
    }

    boolean sweeping() {
        return sweep != null && !sweep.isEmpty();
    }
}
