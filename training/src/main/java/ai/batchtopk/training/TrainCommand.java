package ai.batchtopk.training;

import ai.batchtopk.Device;
import ai.batchtopk.GpuPrecision;
import ai.batchtopk.NativeLibrary;
import ai.batchtopk.ProcessGroup;
import ai.batchtopk.SaeConfig;
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
 * <p>This class gathers the options, declared by concern in its input group and mixins ({@link SaeOptions},
 * {@link ScheduleOptions}, ...), with those of resuming and of running over several processes, and hands them
 * on: {@link TrainSpecs} turns them into the library's {@link RunSpec}, {@link TrainingRun} runs it. Options
 * left out take the library's defaults ({@link SaeConfig#builder}); with {@code --init} they keep the saved
 * SAE's values instead. Nullable fields are how "given" is told from "left out".
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
    InputOptions input;

    @Mixin
    ExtractionOptions extraction;

    @Mixin
    SaeOptions sae;

    @ArgGroup(exclusive = true, multiplicity = "0..1")
    RunLength length;

    @Mixin
    ScheduleOptions schedule;

    @Mixin
    LoadingOptions loading;

    @Mixin
    EvalOptions eval;

    @Mixin
    OutputOptions output;

    @Option(
            names = "--resume",
            paramLabel = "DIR",
            description = "Continue the run whose --out is DIR exactly where its last checkpoint stopped, with its"
                    + " saved options (run.json); only --threads and --prefetch may be given with it.")
    Path resume;

    @Option(
            names = "--threads",
            paramLabel = "N",
            description =
                    "Native intra-op threads (default: the native library's own; OpenBLAS runs the matrix products on all cores either way).")
    Integer threads;

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
            description =
                    "How several workers share the work: data (each its rows of every batch; the default) or latents"
                            + " (each its 1/N of the dictionary, every batch whole; batchtopk and topk).")
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
            return report(
                    TrainingRun.resume(resume, new TrainListener(stderr, ProgressBar.terminal()), group),
                    sae.gpuPrecision,
                    stdout);
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
        run.output.out = resume;
        run.allowChangedData = allowChangedData;
        run.group = group;
        ParseResult given = spec.commandLine().getParseResult();
        if (given.hasMatchedOption("--threads")) {
            run.threads = threads;
        }
        if (given.hasMatchedOption("--prefetch")) {
            run.loading.prefetch = loading.prefetch;
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
        if (sae.device == Device.CUDA && !NativeLibrary.cudaAvailable()) {
            // A CUDA build names itself "(libtorch X, cuda)": then the machine lacks the device, not the build.
            String why = NativeLibrary.buildInfo().endsWith(", cuda)") ? "no CUDA device" : "this build has no CUDA";
            throw new CommandFailure("--device cuda: " + why + " (" + NativeLibrary.buildInfo() + ")");
        }
        if (sae.gpuPrecision != null && sae.device != Device.CUDA) {
            throw new CommandFailure("--gpu-precision applies to --device cuda only");
        }
        if (sae.device == Device.CUDA && group != null) {
            throw new CommandFailure("--device cuda: distributed training runs on the CPU (Gloo) in this build;"
                    + " NCCL for CUDA is not available yet");
        }
        RunSpec run = new TrainSpecs(this, resuming).build(new TrainListener(stderr, ProgressBar.terminal()));
        run = "latents".equals(parallel) ? run.withLatentSharding(group) : run.withGroup(group);
        return report(
                resuming ? TrainingRun.resume(run, allowChangedData) : TrainingRun.start(run),
                sae.gpuPrecision,
                stdout);
    }

    /** Trains the run and prints its summary line. */
    private static int report(TrainingRun opened, GpuPrecision gpuPrecision, PrintWriter stdout) throws IOException {
        try (TrainingRun run = opened) {
            if (gpuPrecision != null) run.setGpuPrecision(gpuPrecision);
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

    long steps() {
        return length.steps(schedule.batchSize);
    }
}
