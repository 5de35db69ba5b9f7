package ai.batchtopk.training;

import ai.batchtopk.Architecture;
import ai.batchtopk.Checkpoint;
import ai.batchtopk.Device;
import ai.batchtopk.NativeLibrary;
import ai.batchtopk.Normalization;
import ai.batchtopk.Sae;
import ai.batchtopk.SaeConfig;
import ai.batchtopk.SaeLens;
import ai.batchtopk.StepMetrics;
import ai.batchtopk.StepPath;
import ai.batchtopk.extract.Extractor;
import ai.batchtopk.extract.ExtractorConfig;
import ai.batchtopk.extract.Model;
import ai.batchtopk.extract.Site;
import ai.batchtopk.extract.TextCorpus;
import ai.batchtopk.io.DType;
import ai.batchtopk.io.Json;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Set;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParseResult;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.LongFunction;
import java.util.stream.Collectors;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code batchtopk train}: trains an SAE (or, with {@code --sweep}, several in one pass over the data)
 * on memory-mapped activations and writes it to {@code --out} as an SAELens directory that is also a
 * checkpoint, with {@code metrics.jsonl} (and {@code eval.jsonl} with {@code --eval-data}), plus
 * {@code run.json}: the arguments, so that {@code --resume DIR} continues a killed run exactly
 * ({@code --init} starts a new run from a checkpoint instead).
 *
 * <p>Options left out take the library's defaults ({@link SaeConfig#builder}); with {@code --init} they
 * keep the saved SAE's values instead. Nullable fields are how "given" is told from "left out".
 */
@Command(name = "train", sortOptions = false, usageHelpAutoWidth = true,
        description = "Train SAEs on activations ([tokens, d], f32/f16/f64/bf16) in .npy or .safetensors files or"
                + " directories of them; or go on with a killed run (--resume DIR).")
final class TrainCommand implements Callable<Integer> {
    @Mixin
    CommonOptions common;

    @Spec
    CommandSpec spec;

    @Option(names = "--data", paramLabel = "FILE|DIR",
            description = "Activations: a .npy file, a .safetensors file (its one 2-D float tensor, or FILE:NAME),"
                    + " or a directory of such shards (sorted by name); repeat to concatenate (same width and dtype)."
                    + " This or --text is required.")
    List<Path> data;

    @Option(names = "--text", paramLabel = "FILE|DIR",
            description = "Instead of --data: text files (a directory is read recursively; documents split at blank"
                    + " lines) run through --model as training goes, its --layer/--site activations streamed into"
                    + " the SAEs (in document order, no shuffle; over and over if the budget is longer). Repeatable.")
    List<Path> text;

    @Option(names = "--model", paramLabel = "NAME", description = "With --text: the model (default: minilm, all-MiniLM-L6-v2).")
    String model;

    @Option(names = "--layer", paramLabel = "L", description = "With --text: the layer, 0-based (required with --text).")
    Integer layer;

    @Option(names = "--site", paramLabel = "resid|mlp",
            description = "With --text: residual stream after the layer (d = 384) or MLP activations (d = 1536) (default: resid).")
    Site site;

    @Option(names = "--max-length", paramLabel = "T",
            description = "With --text: tokens per model sequence, [CLS]/[SEP] included (default: 128).")
    Integer maxLength;

    @Option(names = "--extract-batch-size", paramLabel = "N",
            description = "With --text: sequences per model run (default: 32).")
    Integer extractBatchSize;

    @Option(names = "--encoding", paramLabel = "CHARSET",
            description = "With --text: encoding of the text files (default: UTF-8; e.g. latin-1).")
    String encoding;

    @Option(names = "--arch", paramLabel = "ARCH", converter = Converters.ArchitectureConverter.class,
            description = "batchtopk, topk, jumprelu or relu (default: batchtopk, or the --init SAE's; another one"
                    + " starts a new run from the --init SAE's parameters).")
    Architecture architecture;

    @Option(names = "--d-sae", paramLabel = "N", description = "Number of latents (required without --init).")
    Long dSae;

    @Option(names = "--k", paramLabel = "K", description = "Active latents per token (batchtopk, topk).")
    Integer k;

    @Option(names = "--l0-coeff", paramLabel = "X", description = "jumprelu: weight of the L0 penalty (the library's default if left out).")
    Double l0Coeff;

    @Option(names = "--l1-coeff", paramLabel = "X", description = "relu: weight of the L1 penalty (the library's default if left out).")
    Double l1Coeff;

    @Option(names = "--batch-size", paramLabel = "B", description = "Tokens per step (required).")
    Long batchSize;

    @ArgGroup(exclusive = true, multiplicity = "0..1")
    Length length;

    /** How long to train: a step count or a token count. */
    static final class Length {
        @Option(names = "--steps", required = true, paramLabel = "N", description = "Optimizer steps to take (this or --tokens is required).")
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

    @Option(names = "--shuffle-buffer", paramLabel = "ROWS", defaultValue = "0",
            description = "Shuffle within windows of ROWS consecutive rows (windows in random order) instead of"
                    + " over all rows: a working set of ROWS rows; 0 (default): one permutation of all rows.")
    long shuffleBuffer;

    @Option(names = "--prefetch", paramLabel = "N", defaultValue = "2",
            description = "Batches a background thread prepares ahead into off-heap buffers (default: 2; 0: none).")
    int prefetch;

    @Option(names = "--lr-warmup-steps", paramLabel = "N", defaultValue = "0",
            description = "Raise the learning rate linearly from 0 over the first N steps (default: 0).")
    long lrWarmupSteps;

    @Option(names = "--lr-decay", paramLabel = "SHAPE", defaultValue = "none",
            description = "none, linear or cosine: decay the learning rate after the warm-up (default: none).")
    String lrDecay;

    @Option(names = "--lr-end-fraction", paramLabel = "X", defaultValue = "0",
            description = "With --lr-decay, the rate falls towards X * lr at the end of the run (default: 0).")
    double lrEndFraction;

    @Option(names = "--checkpoint-every", paramLabel = "N", defaultValue = "0",
            description = "Save a checkpoint every N steps (atomically; default 0: only at the end).")
    long checkpointEvery;

    @Option(names = "--resume", paramLabel = "DIR",
            description = "Continue the run whose --out is DIR exactly where its last checkpoint stopped, with its"
                    + " saved options (run.json); only --threads and --prefetch may be given with it.")
    Path resume;

    @Option(names = "--eval-data", paramLabel = "FILE|DIR",
            description = "Held-out activations to evaluate on (same forms as --data); lines go to eval.jsonl.")
    List<Path> evalData;

    @Option(names = "--eval-every", paramLabel = "N",
            description = "Evaluate every N steps and at the end (default: about 10 times per run).")
    Long evalEvery;

    @Option(names = "--eval-tokens", paramLabel = "N", defaultValue = "16384",
            description = "Rows of --eval-data to evaluate on: the first N (default: 16384).")
    long evalTokens;

    @Option(names = "--sweep", paramLabel = "NAME=V1,V2,...",
            description = "Train several SAEs in one pass over the same batches: arch=batchtopk,topk,jumprelu, d-sae=2048,4096,"
                    + " k=16,32,64 (architectures that select k latents), l0-coeff=... (jumprelu), l1-coeff=... (relu);"
                    + " each architecture is crossed with d-sae and the values of its own parameter; each SAE goes to"
                    + " DIR/<arch>-dsae<N>-k<K>/ (jumprelu: -l0c<X>, relu: -l1c<X>).")
    List<String> sweep;

    @Option(names = "--init", paramLabel = "SAE_DIR",
            description = "Start from an SAELens directory (or a SAELens batchtopk training checkpoint); resume it if it"
                    + " is a checkpoint of ours of the same architecture.")
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

    @Option(names = "--out", paramLabel = "DIR", description = "Where the SAE and metrics go (required; with --sweep, one subdirectory per SAE)."
            + " It must be new or empty (or the --init directory, to go on in place).")
    Path out;

    @Option(names = "--overwrite",
            description = "Replace the training run already in --out (only if it holds nothing but a run's files).")
    boolean overwrite;

    @Option(names = "--allow-changed-data",
            description = "With --resume: go on even though the data files changed since the checkpoint (a warning says how).")
    boolean allowChangedData;

    private PrintWriter stdout;
    private PrintWriter stderr;

    @Override
    public Integer call() throws IOException {
        stdout = spec.commandLine().getOut();
        stderr = spec.commandLine().getErr();
        if (allowChangedData && resume == null) {
            throw usage("--allow-changed-data only applies with --resume");
        }
        if (resume != null) {
            return resumeRun();
        }
        return execute(false);
    }

    /** --resume DIR: the saved command line, run again in "continue" mode. */
    private int resumeRun() throws IOException {
        ParseResult given = spec.commandLine().getParseResult();
        for (OptionSpec option : given.matchedOptions()) {
            String name = option.longestName();
            if (!Set.of("--resume", "--threads", "--prefetch", "--debug", "--allow-changed-data").contains(name)) {
                throw usage(name + " cannot be given with --resume: the run goes on with the options it was started"
                        + " with (" + RunFile.FILE + "); use --init to start a new run from a checkpoint");
            }
        }
        // A kill between the two renames of a checkpoint save leaves the run in DIR.incoming: move it back.
        Checkpoint.recover(resume);
        if (!Files.isDirectory(resume)) {
            throw new CommandFailure("--resume " + resume + ": no such directory");
        }
        List<String> args = RunFile.read(resume);
        CommandLine saved = new CommandLine(new TrainCommand()).setCaseInsensitiveEnumValuesAllowed(true);
        try {
            saved.parseArgs(args.toArray(String[]::new));
        } catch (ParameterException e) {
            throw new CommandFailure(resume.resolve(RunFile.FILE) + ": the saved arguments no longer parse: "
                    + e.getMessage(), e);
        }
        TrainCommand run = saved.getCommand();
        run.stdout = stdout;
        run.stderr = stderr;
        run.out = resume;
        run.allowChangedData = allowChangedData;
        if (given.hasMatchedOption("--threads")) {
            run.threads = threads;
        }
        if (given.hasMatchedOption("--prefetch")) {
            run.prefetch = prefetch;
        }
        return run.execute(true);
    }

    private int execute(boolean resuming) throws IOException {
        checkOptions();
        ResourceLimits.checkThreads(spec.commandLine(), threads);
        NativeLibrary.setNumThreads(threads != null ? threads : Runtime.getRuntime().availableProcessors());
        if (device == Device.CUDA && !NativeLibrary.cudaAvailable()) {
            throw new CommandFailure("--device cuda: no CUDA device is usable by this build (" + NativeLibrary.buildInfo() + ")");
        }
        // Shared: the prefetch thread reads the mappings and fills the buffers the trainer reads.
        try (Arena arena = Arena.ofShared()) {
            List<AutoCloseable> toClose = new ArrayList<>();
            try {
                Input input = text != null ? textInput(toClose) : fileInput(arena);
                ActivationData evalActivations = evalData == null ? null : ActivationData.open(evalData, arena);
                if (evalActivations != null && evalActivations.width() != input.width()) {
                    throw new CommandFailure("--eval-data has width d = " + evalActivations.width() + " ("
                            + evalActivations.describe() + ") but " + (text != null ? "--text" : "--data")
                            + " has d = " + input.width() + (text != null ? " (" + input.describe() + ")" : ""));
                }
                List<Trainer.Member> members = new ArrayList<>();
                return train(members, toClose, input, evalActivations, arena, resuming);
            } finally {
                closeAll(toClose);
            }
        }
    }

    /**
     * Where the training rows come from: activation files (--data) or text run through a model (--text).
     *
     * @param rows what a checkpoint's position refers to: the rows of the files, or for text (whose row count
     *     is only known after a whole pass) a fingerprint of the documents and the extraction settings, so that
     *     a resume over changed text is refused
     * @param streams a stream of batches starting at a position, seeded
     * @param origins where the rows of a stream with that seed come from, for messages
     * @param fingerprint the files read, to tell on --resume whether they changed
     */
    private record Input(long width, long rows, String describe, StreamFactory streams, LongFunction<RowOrigin> origins,
            DataFingerprint fingerprint) {}

    @FunctionalInterface
    private interface StreamFactory {
        RowStream open(DataPosition start, long seed);
    }

    private Input fileInput(Arena arena) throws IOException {
        ActivationData activations = ActivationData.open(data, arena);
        if (batchSize > activations.rows()) {
            throw new CommandFailure("--batch-size " + batchSize + " is larger than the data ("
                    + activations.describe() + ")");
        }
        ResourceLimits.checkTrain(spec.commandLine(), prefetch, batchSize, activations.width(), activations.dtype(),
                variants().stream().map(SweepGrid.Variant::dSae).toList());
        return new Input(activations.width(), activations.rows(), activations.describe(), (start, seed) -> shuffle
                ? new ShuffledBatches(activations, batchSize, seed, shuffleBuffer, start, arena)
                : new SequentialBatches(activations, batchSize, start, arena),
                seed -> shuffle ? RowOrigin.shuffled(activations, seed, shuffleBuffer) : RowOrigin.sequential(activations),
                DataFingerprint.ofActivations("--data", activations));
    }

    private Input textInput(List<AutoCloseable> toClose) throws IOException {
        String sources = text.stream().map(Path::toString).collect(Collectors.joining(", "));
        ExtractorConfig config = extractorConfig();
        java.security.MessageDigest fingerprint = fingerprint(config);
        TextCorpus corpus;
        long documents;
        try {
            corpus = TextCorpus.open(text, textEncoding());
            documents = corpus.validate(fingerprint);  // one streamed pass: checks the text, hashes its documents
        } catch (IOException e) {
            throw new CommandFailure("--text " + sources + ": " + e.getMessage(), e);
        }
        if (!corpus.skipped().isEmpty()) {
            stderr.println("warning: --text: skipped " + corpus.skipped().size() + " binary file(s): "
                    + TextCorpus.names(corpus.skipped()));
        }
        ResourceLimits.checkTrain(spec.commandLine(), prefetch, batchSize, config.width(), DType.F32,
                variants().stream().map(SweepGrid.Variant::dSae).toList());
        Extractor extractor = Extractor.open(config);
        toClose.add(extractor);
        String describe = documents + " documents of " + sources + " through " + config.model().modelName()
                + " " + config.hookName() + ", d = " + config.width();
        long rows = java.nio.ByteBuffer.wrap(fingerprint.digest()).getLong() & Long.MAX_VALUE;
        return new Input(config.width(), rows, describe, (start, seed) -> {
            try {
                return new ExtractedBatches(extractor, corpus, batchSize, start, Arena.ofAuto());
            } catch (IllegalArgumentException e) {
                throw new CommandFailure("--text " + sources + ": " + e.getMessage(), e);
            }
        }, seed -> new TextRowOrigin(config, corpus), DataFingerprint.ofText("--text", text));
    }

    /** The charset of --encoding (a usage error if unknown). */
    private java.nio.charset.Charset textEncoding() {
        try {
            return encoding == null ? java.nio.charset.StandardCharsets.UTF_8 : TextCorpus.charset(encoding);
        } catch (IllegalArgumentException e) {
            throw usage(e.getMessage());
        }
    }

    /** The extraction --text asks for (usage errors for impossible values). */
    private ExtractorConfig extractorConfig() {
        try {
            return new ExtractorConfig(Model.of(model != null ? model : "minilm"), layer, site != null ? site : Site.RESID,
                    maxLength != null ? maxLength : ExtractorConfig.DEFAULT_MAX_LENGTH,
                    extractBatchSize != null ? extractBatchSize : ExtractorConfig.DEFAULT_BATCH_SIZE, false, 0);
        } catch (IllegalArgumentException e) {
            throw usage(e.getMessage());
        }
    }

    /**
     * A digest of the extraction settings, to which {@link TextCorpus#validate} adds the documents; its first
     * 63 bits are the "rows" of a text input.
     */
    private static java.security.MessageDigest fingerprint(ExtractorConfig config) {
        try {
            java.security.MessageDigest sha = java.security.MessageDigest.getInstance("SHA-256");
            sha.update((config.model().label() + "|" + config.hookName() + "|" + config.maxLength() + "|"
                    + config.keepSpecialTokens()).getBytes(java.nio.charset.StandardCharsets.UTF_8));
            return sha;
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private int train(List<Trainer.Member> members, List<AutoCloseable> toClose, Input activations,
            ActivationData evalActivations, Arena arena, boolean resuming) throws IOException {
        List<SweepGrid.Variant> variants = variants();
        boolean sweeping = sweep != null && !sweep.isEmpty();
        Set<String> names = new java.util.TreeSet<>();
        variants.forEach(v -> names.add(v.name()));
        if (!resuming && init != null && architecture != null && Files.isDirectory(init) && Files.exists(out)
                && Files.isSameFile(out, init) && SaeLens.config(init).architecture() != architecture) {
            throw usage("--out " + out + " is the --init directory: a run of another architecture would replace"
                    + " the SAE it starts from; give another --out");
        }
        // Checked before anything in --out changes: held-out rows that cannot be evaluated on.
        EvalSet evalSet = null;
        if (evalActivations != null) {
            evalSet = new EvalSet(evalActivations, evalTokens);
            toClose.add(evalSet);
        }
        Path top = out.toAbsolutePath().normalize();
        DataFingerprint fingerprint = evalActivations == null ? activations.fingerprint()
                : activations.fingerprint().plus(DataFingerprint.ofActivations("--eval-data", evalActivations));
        Set<String> warned = new java.util.HashSet<>();
        String runId = resuming ? RunFile.id(top) : null;
        String order = text != null ? "text-sequential" : ResumeState.orderName(shuffle, shuffleBuffer);
        long steps = steps();
        double baseLr = Double.NaN;
        DataPosition position = DataPosition.START;
        long fewestSteps = Long.MAX_VALUE;
        long seed = 0;
        // First every SAE is made or loaded and checked, so that a run refused for its options or its data
        // leaves --out as it was.
        List<SaeStart> starts = new ArrayList<>();
        List<Boolean> continuedRuns = new ArrayList<>();
        for (SweepGrid.Variant variant : variants) {
            Path dir = sweeping ? top.resolve(variant.name()) : top;
            // Resuming: from the SAE's own checkpoint when the killed run got to write one; else the run
            // starts this SAE over exactly as it first did (new, or from --init).
            boolean continued = resuming && RunFile.hasCheckpointOf(dir, runId);
            SaeStart start = continued ? SaeStart.load(dir, this::adjust)
                    : init == null ? SaeStart.fresh(newConfig(activations.width(), variant))
                    : SaeStart.init(init, this::adjust, architecture, k);
            toClose.add(start.sae());
            starts.add(start);
            continuedRuns.add(continued);
            if (continued && start.state().runSteps() > steps) {
                throw new CommandFailure("--resume " + dir + ": its checkpoint is at step " + start.state().runSteps()
                        + ", past the run's " + steps + " steps");
            }
            if (continued) {
                checkSameData(dir, start.state(), fingerprint, activations, order, warned);
            }
            checkAgainstInit(start.sae(), activations);
            if (start.sae().dIn() != activations.width()) {
                throw new CommandFailure("the data has width d = " + activations.width() + " (" + activations.describe()
                        + ") but the SAE in " + dir + " has d_in = " + start.sae().dIn());
            }
            long done = continued ? start.state().runSteps() : 0;
            if (done < fewestSteps) {
                fewestSteps = done;
                position = continued || init != null ? start.state().positionIn(activations.rows(), order) : DataPosition.START;
            }
            if (Double.isNaN(baseLr)) {
                baseLr = continued && Double.isFinite(start.state().baseLr()) ? start.state().baseLr()
                        : lr != null ? lr : start.sae().config().lr();
                seed = start.sae().config().seed();
            }
        }
        if (fewestSteps >= steps) {
            throw new CommandFailure("--resume " + out + ": the run is already complete (" + steps + " of " + steps + " steps)");
        }

        if (!resuming && !(init != null && Files.isDirectory(top) && Files.isSameFile(top, init))) {
            OutputDirectory.clearForNewRun(out, overwrite);
        }
        OutputDirectory topOutput = OutputDirectory.prepare(out, sweeping ? names : Set.of());
        if (!resuming) {
            runId = RunFile.write(top, savedArgs(), source());
        }
        for (int i = 0; i < variants.size(); i++) {
            SweepGrid.Variant variant = variants.get(i);
            SaeStart start = starts.get(i);
            boolean continued = continuedRuns.get(i);
            OutputDirectory output = sweeping ? OutputDirectory.prepare(top.resolve(variant.name())) : topOutput;
            boolean append = continued || (!resuming && init != null && output.isSameAs(init));
            if (continued) {
                MetricsLog.truncateAfter(output.metricsFile(), start.state().tokens());
                MetricsLog.truncateAfter(output.path().resolve(EvalLog.FILE), start.state().tokens());
            }
            MetricsLog log = MetricsLog.open(output.metricsFile(), append);
            toClose.add(log);
            EvalLog evalLog = null;
            if (evalActivations != null) {
                evalLog = EvalLog.open(output.path().resolve(EvalLog.FILE), append);
                toClose.add(evalLog);
            }
            members.add(new Trainer.Member(variant.name(), start.sae(), output, log, evalLog, metadata(),
                    continued ? start.state().runSteps() : 0, start.state().tokens()));
        }


        RowStream stream = activations.streams().open(position, seed);
        BatchSource batches = (BatchSource) stream;
        if (prefetch > 0) {
            PrefetchingBatches prefetching = new PrefetchingBatches(stream, prefetch, arena);
            toClose.add(prefetching);
            batches = prefetching;
        }
        LrSchedule schedule = new LrSchedule(baseLr, steps, lrWarmupSteps, LrSchedule.Decay.parse(lrDecay), lrEndFraction);
        long evalPeriod = evalSet == null ? 0 : evalEvery != null ? evalEvery : Math.max(1, steps / 10);
        Trainer.Plan plan = new Trainer.Plan(steps, schedule, LogSchedule.of(steps, logEvery), checkpointEvery,
                evalPeriod, activations.rows(), order, runId, fingerprint, out);
        ProgressBar progress = ProgressBar.terminal() ? new ProgressBar(stderr, steps - fewestSteps) : null;
        Trainer.Result result = new Trainer(members, batches, activations.origins().apply(seed), plan, evalSet, progress).run();
        stdout.println(Json.write(summary(result, sweeping ? top : members.getFirst().output.path(),
                sweeping ? members : List.of())));
        return Main.OK;
    }

    /**
     * Resuming: the data must be what the checkpoint was trained on (its files' fingerprints, its row count
     * and order), unless --allow-changed-data says to go on anyway; then a warning says what changed, and
     * data of another length or order is read from its start. A checkpoint without fingerprints (saved by an
     * earlier version) is resumed with a warning that the files cannot be checked.
     */
    private void checkSameData(Path dir, ResumeState saved, DataFingerprint now, Input activations, String order,
            Set<String> warned) {
        if (saved.data() == null) {
            warnOnce(warned, "--resume " + out + ": the checkpoint keeps no fingerprint of its data (saved by an earlier"
                    + " version), so changed data files cannot be detected");
        } else {
            List<String> changes = now.changesSince(saved.data());
            if (!changes.isEmpty()) {
                String what = String.join("; ", changes);
                if (!allowChangedData) {
                    throw new CommandFailure("--resume " + dir + ": the data changed since the checkpoint: " + what
                            + ". Put the data back, or pass --allow-changed-data to train on it as it is now (the run then"
                            + " no longer matches an uninterrupted one)");
                }
                warnOnce(warned, "--resume " + out + ": the data changed since the checkpoint (" + what
                        + "); going on, as --allow-changed-data asks");
            }
        }
        if (saved.dataRows() == activations.rows() && saved.order().equals(order)) {
            return;
        }
        if (allowChangedData) {
            warnOnce(warned, "--resume " + out + ": the data is not the length or order the checkpoint's position refers"
                    + " to; it is read from its start");
        } else if (text != null) {
            throw new CommandFailure("--resume " + dir + ": the checkpoint was taken over other text or another"
                    + " extraction than " + activations.describe() + "; the text changed, so the run cannot go on exactly");
        } else {
            throw new CommandFailure("--resume " + dir + ": the checkpoint was taken over " + saved.dataRows()
                    + " rows read " + saved.order() + ", but the data is now " + activations.describe()
                    + " read " + order + "; the data files changed, so the run cannot go on exactly");
        }
    }

    private void warnOnce(Set<String> warned, String message) {
        if (warned.add(message)) {
            stderr.println("warning: " + message);
        }
    }

    /** The SAEs of the run: one, or the grid of the --sweep values ({@link SweepGrid}). */
    private List<SweepGrid.Variant> variants() {
        try {
            return SweepGrid.of(sweep, architecture != null ? architecture : initArchitecture(), dSae, k, l0Coeff, l1Coeff);
        } catch (IllegalArgumentException e) {
            throw usage(e.getMessage());
        }
    }

    /** The --init SAE's architecture, which the run keeps without --arch; null when it cannot be read (yet). */
    private Architecture initArchitecture() {
        if (init == null || !Files.isDirectory(init)) {
            return null;
        }
        try {
            return SaeLens.config(init).architecture();
        } catch (IOException | RuntimeException e) {
            return null;  // the run reports it when it loads the --init SAE
        }
    }

    /** The arguments saved in run.json: as given, with data paths made absolute. */
    private List<String> savedArgs() {
        List<String> all = spec.commandLine().getParseResult().originalArgs();
        // The whole command line: keep what follows the subcommand's name.
        int at = all.indexOf(spec.name());
        List<String> original = at >= 0 ? all.subList(at + 1, all.size()) : all;
        List<String> args = new ArrayList<>();
        Set<String> pathOptions = Set.of("--data", "--text", "--eval-data", "--init");
        for (int i = 0; i < original.size(); i++) {
            String arg = original.get(i);
            if (arg.equals("--debug") || arg.equals("--overwrite")) {
                continue;
            }
            int eq = arg.indexOf('=');
            if (arg.startsWith("--") && eq > 0 && pathOptions.contains(arg.substring(0, eq))) {
                args.add(arg.substring(0, eq));
                args.add(absolute(arg.substring(eq + 1)));
            } else if (pathOptions.contains(arg) && i + 1 < original.size()) {
                args.add(arg);
                args.add(absolute(original.get(++i)));
            } else {
                args.add(arg);
            }
        }
        return args;
    }

    private static String absolute(String path) {
        return Path.of(path).toAbsolutePath().normalize().toString();
    }

    private static void closeAll(List<AutoCloseable> resources) throws IOException {
        Throwable first = null;
        // In reverse: the prefetch thread stops before anything it uses goes.
        for (int i = resources.size() - 1; i >= 0; i--) {
            try {
                resources.get(i).close();
            } catch (Exception e) {
                if (first == null) first = e;
            }
        }
        if (first instanceof IOException io) throw io;
        if (first instanceof RuntimeException re) throw re;
        if (first != null) throw new IOException(first);
    }

    /** Checks the options on their own, before any file is read: these are usage errors (exit 2). */
    private void checkOptions() {
        boolean hasData = data != null && !data.isEmpty();
        boolean hasText = text != null && !text.isEmpty();
        if (hasData && hasText) {
            throw usage("--data and --text are alternatives: give activation files (--data) or text to run through a"
                    + " model (--text), not both");
        }
        if (!hasData && !hasText) {
            throw usage("Missing required option: '--data=FILE|DIR' (or '--text=FILE|DIR' with --layer)");
        }
        ParseResult given = spec.commandLine().getParseResult();
        if (hasText) {
            if (layer == null) {
                throw usage("--text needs --layer L (the model layer whose activations to train on, 0-based)");
            }
            if (shuffle && given != null && given.hasMatchedOption("--shuffle")) {
                throw usage("--shuffle cannot be used with --text: rows extracted from text come in document order"
                        + " (to shuffle, write them with 'extract' and train with --data)");
            }
            if (given != null && given.hasMatchedOption("--shuffle-buffer")) {
                throw usage("--shuffle-buffer cannot be used with --text: rows extracted from text come in document order");
            }
            shuffle = false;
            if (extractBatchSize != null) {
                positive("--extract-batch-size", extractBatchSize);
            }
            extractorConfig();
        } else {
            for (String option : List.of("--model", "--layer", "--site", "--max-length", "--extract-batch-size")) {
                if (given != null && given.hasMatchedOption(option)) {
                    throw usage(option + " only applies with --text");
                }
            }
        }
        if (batchSize == null) {
            throw usage("Missing required option: '--batch-size=B'");
        }
        if (out == null) {
            throw usage("Missing required option: '--out=DIR'");
        }
        if (length == null) {
            throw usage("Missing required argument (specify one of these): (--steps=N | --tokens=N)");
        }
        positive("--batch-size", batchSize);
        if (shuffleBuffer < 0) {
            throw usage("--shuffle-buffer must not be negative (0: shuffle over all rows), got " + shuffleBuffer);
        }
        if (prefetch < 0) {
            throw usage("--prefetch must not be negative (0: no prefetch thread), got " + prefetch);
        }
        if (lrWarmupSteps < 0) {
            throw usage("--lr-warmup-steps must not be negative, got " + lrWarmupSteps);
        }
        try {
            LrSchedule.Decay.parse(lrDecay);
        } catch (IllegalArgumentException e) {
            throw usage(e.getMessage());
        }
        if (!(lrEndFraction >= 0 && lrEndFraction <= 1)) {
            throw usage("--lr-end-fraction must be in [0, 1], got " + lrEndFraction);
        }
        if (lrWarmupSteps >= steps() && !lrDecay.equalsIgnoreCase("none")) {
            throw usage("--lr-warmup-steps " + lrWarmupSteps + " leaves no steps to --lr-decay over (the run has "
                    + steps() + ")");
        }
        if (checkpointEvery < 0) {
            throw usage("--checkpoint-every must not be negative (0: only at the end), got " + checkpointEvery);
        }
        if (evalEvery != null) {
            positive("--eval-every", evalEvery);
        }
        positive("--eval-tokens", evalTokens);
        if ((evalEvery != null) && evalData == null) {
            throw usage("--eval-every needs --eval-data");
        }
        if (sweep != null && !sweep.isEmpty() && init != null) {
            throw usage("--sweep trains new SAEs; it cannot be combined with --init");
        }
        if (overwrite && init != null && init.toAbsolutePath().normalize().startsWith(out.toAbsolutePath().normalize())) {
            throw usage("--overwrite would delete the --init SAE " + init + ", which is in --out " + out
                    + " (to go on in place, leave --overwrite out)");
        }
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
        if (l0Coeff != null && !(Double.isFinite(l0Coeff) && l0Coeff >= 0)) {
            throw usage("--l0-coeff must be a finite number >= 0, got " + l0Coeff);
        }
        if (l1Coeff != null && !(Double.isFinite(l1Coeff) && l1Coeff >= 0)) {
            throw usage("--l1-coeff must be a finite number >= 0, got " + l1Coeff);
        }
        List<SweepGrid.Variant> variants = variants();
        if (init == null) {
            if (variants.stream().anyMatch(v -> v.dSae() == null)) {
                throw usage("--d-sae is required (unless --init gives an SAE)");
            }
            List<Architecture> needingK = SweepGrid.needingK(variants);
            if (!needingK.isEmpty()) {
                throw usage("--k is required for --arch " + needingK.getFirst().cliName());
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

    private long steps() {
        return length.steps != null ? length.steps : Math.ceilDiv(length.tokens, batchSize);
    }

    /** The config of a new SAE: what was given, library defaults for the rest. */
    private SaeConfig newConfig(long dIn, SweepGrid.Variant variant) {
        SaeConfig.Builder builder = SaeConfig.builder(dIn, variant.dSae()).architecture(variant.architecture());
        if (variant.k() != null) {
            builder.k(variant.k());
        }
        if (normalization != null) {
            builder.normalization(normalization);
        }
        if (seed != null) {
            builder.seed(seed);
        }
        if (variant.l0Coeff() != null) {
            builder.l0Coeff(variant.l0Coeff());
        }
        if (variant.l1Coeff() != null) {
            builder.l1Coeff(variant.l1Coeff());
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
        if (l0Coeff != null) builder.l0Coeff(l0Coeff);
        if (l1Coeff != null) builder.l1Coeff(l1Coeff);
        // The saved seed made the saved parameters; a new one here only changes the shuffle order.
        if (seed != null) builder.seed(seed);
        return builder;
    }

    /** What --init gave must fit the data and must not contradict options given explicitly. */
    private void checkAgainstInit(Sae sae, Input activations) {
        if (init == null) {
            return;
        }
        if (sae.dIn() != activations.width()) {
            throw new CommandFailure("the data has width d = " + activations.width() + " (" + activations.describe()
                    + ") but the --init SAE " + init + " has d_in = " + sae.dIn());
        }
        SaeConfig saved = sae.config();
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
        List<Path> sources = text != null ? text : data;
        metadata.put("dataset_path", sources.stream().map(p -> p.toAbsolutePath().normalize().toString())
                .collect(Collectors.joining(",")));
        if (text != null) {
            ExtractorConfig config = extractorConfig();
            metadata.put("model_name", config.model().modelName());
            metadata.put("hook_name", config.hookName());
            metadata.put("hook_layer", config.layer());
            metadata.put("hook_site", config.site().label());
            metadata.put("context_size", config.maxLength());
            metadata.put("prepend_bos", false);
        }
        return metadata;
    }

    /** What run.json records besides the arguments: for --text, the extraction (null for --data). */
    private Map<String, Object> source() {
        if (text == null) {
            return null;
        }
        ExtractorConfig config = extractorConfig();
        Map<String, Object> source = new LinkedHashMap<>();
        source.put("text", text.stream().map(p -> p.toAbsolutePath().normalize().toString()).toList());
        source.put("model", config.model().label());
        source.put("model_name", config.model().modelName());
        source.put("layer", config.layer());
        source.put("site", config.site().label());
        source.put("hook_name", config.hookName());
        source.put("d", config.width());
        source.put("max_length", config.maxLength());
        source.put("extract_batch_size", config.batchSize());
        return source;
    }

    /** The one line printed at the end (stdout, JSON). */
    private static Map<String, Object> summary(Trainer.Result result, Path out, List<Trainer.Member> sweep) {
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
        if (!sweep.isEmpty()) {
            List<Map<String, Object>> saes = new ArrayList<>();
            for (Trainer.Member member : sweep) {
                Map<String, Object> one = new LinkedHashMap<>();
                one.put("name", member.name);
                one.put("mse", MetricsLog.finite(member.last.mse()));
                one.put("nmse", MetricsLog.finite(member.last.nmse()));
                one.put("l0", MetricsLog.finite(member.last.l0()));
                one.put("dead", member.last.dead());
                one.put("out", member.output.path().toString());
                saes.add(one);
            }
            line.put("saes", saes);
        }
        return line;
    }
}
