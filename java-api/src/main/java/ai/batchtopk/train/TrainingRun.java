package ai.batchtopk.train;

import ai.batchtopk.Architecture;
import ai.batchtopk.Checkpoint;
import ai.batchtopk.GpuPrecision;
import ai.batchtopk.ProcessGroup;
import ai.batchtopk.SaeConfig;
import ai.batchtopk.ShardedCheckpoint;
import ai.batchtopk.ShardedSae;
import ai.batchtopk.StepPath;
import ai.batchtopk.data.ActivationData;
import ai.batchtopk.data.BatchSource;
import ai.batchtopk.data.DataFingerprint;
import ai.batchtopk.data.DataPosition;
import ai.batchtopk.data.PrefetchingBatches;
import ai.batchtopk.data.RankRows;
import ai.batchtopk.data.RowStream;
import ai.batchtopk.data.TrainingData;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * A training run, ready to go: its data opened, its SAEs made or loaded and checked, its directory
 * prepared. {@link #train()} runs it to the end; {@link #close()} frees what it holds.
 *
 * <pre>
 * try (TrainingRun run = TrainingRun.start(spec)) { run.train(); }
 * // after a crash or a kill, from the last checkpoint, bit for bit the same run:
 * try (TrainingRun run = TrainingRun.resume(dir)) { run.train(); }
 * </pre>
 *
 * <p>A run refused for its data or its SAEs leaves its directory as it was: everything is checked
 * before anything there changes.
 *
 * <p>A data-parallel run ({@link RunSpec.Builder#dataParallel}) is started or resumed by every rank with
 * the same specification; the ranks agree that each is ready before the first step (a rank that is not
 * makes the others fail naming it), and only rank 0 changes the directory. A latent-sharded run
 * ({@link RunSpec.Builder#latentSharded}) is started and resumed the same way; there every rank writes
 * its shard of each checkpoint, and rank 0 everything else.
 */
public final class TrainingRun implements AutoCloseable {
    // Shared: the prefetch thread reads the mappings and fills the buffers the trainer reads.
    private final Arena arena = Arena.ofShared();
    private final List<AutoCloseable> toClose = new ArrayList<>();
    private final RunSpec spec;
    private final boolean allowChangedData;
    private final Set<String> warned = new HashSet<>();
    private Trainer trainer;
    private boolean trained;

    private TrainingRun(RunSpec spec, boolean resuming, boolean allowChangedData) throws IOException {
        this.spec = spec;
        this.allowChangedData = allowChangedData;
        try {
            prepare(resuming);
        } catch (IOException | RuntimeException | Error e) {
            try {
                if (spec.group() != null) {
                    ranksNotReady(false);
                }
            } catch (RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            try {
                close();
            } catch (Exception suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        List<Integer> notReady = spec.group() == null ? List.of() : ranksNotReady(true);
        if (!notReady.isEmpty()) {
            close();
            throw new TrainingException("rank" + (notReady.size() > 1 ? "s " : " ") + notReady + " of "
                    + spec.group().worldSize() + " could not start the run (see "
                    + (notReady.size() > 1 ? "their errors" : "its error") + "); this rank stops too");
        }
        if (spec.shardLatents() && !spec.writes()) {
            // Every rank's shard files carry the run's id, which rank 0 has written to run.json by now.
            try {
                trainer =
                        trainer.withRunId(RunFile.id(spec.out().toAbsolutePath().normalize()));
            } catch (IOException | RuntimeException e) {
                close();
                throw e;
            }
        }
    }

    /** One collective over the ranks: the ranks that are not ready (every rank calls it once, ready or not). */
    private List<Integer> ranksNotReady(boolean ready) {
        ProcessGroup group = spec.group();
        double[] failed = new double[group.worldSize()];
        failed[group.rank()] = ready ? 0 : 1;
        group.sum(failed);
        List<Integer> ranks = new ArrayList<>();
        for (int r = 0; r < failed.length; r++) {
            if (failed[r] != 0) {
                ranks.add(r);
            }
        }
        return ranks;
    }

    /**
     * Starts a new run in {@code spec.out()}, which must be new or empty (or hold a previous run and
     * {@code spec.overwrite()}, or be the directory its one SAE starts from).
     */
    public static TrainingRun start(RunSpec spec) throws IOException {
        return new TrainingRun(spec, false, false);
    }

    /** Continues the run in {@code dir} from its last checkpoint, as {@link RunSpec} saved it there. */
    public static TrainingRun resume(Path dir) throws IOException {
        return resume(dir, RunListener.NONE);
    }

    /** As {@link #resume(Path)}, telling {@code listener} how it goes. */
    public static TrainingRun resume(Path dir, RunListener listener) throws IOException {
        return resume(dir, listener, null);
    }

    /**
     * As {@link #resume(Path, RunListener)}, as one rank of a run over {@code group} (null: one process):
     * latent-sharded when its checkpoint is ({@link ShardedCheckpoint}), else data-parallel; the number of
     * ranks may differ from the one the run had before.
     */
    public static TrainingRun resume(Path dir, RunListener listener, ProcessGroup group) throws IOException {
        recoverOnce(dir, group);
        RunSpec saved = RunFile.readSpec(dir).withOut(dir).withListener(listener);
        boolean sharded = group != null && Files.exists(dir.resolve(ShardedCheckpoint.MANIFEST));
        return resume(sharded ? saved.withLatentSharding(group) : saved.withGroup(group), false);
    }

    /**
     * Continues the run of {@code spec} in {@code spec.out()} from its last checkpoint.
     *
     * @param allowChangedData go on even if the data files changed since the checkpoint (with a warning)
     */
    public static TrainingRun resume(RunSpec spec, boolean allowChangedData) throws IOException {
        recoverOnce(spec.out(), spec.group());
        if (!Files.isDirectory(spec.out())) {
            throw new TrainingException("TrainingRun.resume " + spec.out() + ": no such directory");
        }
        return new TrainingRun(spec, true, allowChangedData);
    }

    /**
     * A kill between the two renames of a checkpoint save leaves the run in DIR.incoming: moves it back.
     * In a data-parallel run rank 0 does, and the others wait for it before they read the checkpoint.
     */
    private static void recoverOnce(Path dir, ProcessGroup group) throws IOException {
        if (group == null || group.rank() == 0) {
            Checkpoint.recover(dir);
        }
        if (group != null) {
            group.barrier();
        }
    }

    private void prepare(boolean resuming) throws IOException {
        TrainingData data = spec.data().open(spec.batchSize(), arena, spec.listener()::onWarning);
        toClose.add(data);
        ActivationData evalActivations = spec.evalData().isEmpty() ? null : ActivationData.open(spec.evalData(), arena);
        if (evalActivations != null && evalActivations.width() != data.width()) {
            boolean files = data.fingerprint().sources().stream()
                    .allMatch(s -> s.option().equals("--data"));
            throw new TrainingException("RunSpec.evalData has width d = " + evalActivations.width() + " ("
                    + evalActivations.describe() + ") but the training data has d = " + data.width()
                    + (files ? "" : " (" + data.describe() + ")"));
        }
        Path out = spec.out();
        Path top = out.toAbsolutePath().normalize();
        // Checked before anything in the directory changes: held-out rows that cannot be evaluated on. Only the
        // rank that writes evaluates.
        EvalSet evalSet = null;
        if (evalActivations != null && spec.writes()) {
            evalSet = new EvalSet(evalActivations, spec.evalTokens());
            toClose.add(evalSet);
        }
        DataFingerprint fingerprint = evalActivations == null
                ? data.fingerprint()
                : data.fingerprint().plus(DataFingerprint.ofActivations("--eval-data", evalActivations));
        String runId = resuming ? RunFile.id(top) : null;
        String order = data.order();
        long steps = spec.steps();
        double baseLr = Double.NaN;
        DataPosition position = DataPosition.START;
        long fewestSteps = Long.MAX_VALUE;
        long seed = 0;
        // First every SAE is made or loaded and checked, so that a run refused for its options or its data
        // leaves the directory as it was.
        List<SaeStart> starts = new ArrayList<>();
        List<ShardedSae> shards = new ArrayList<>();
        List<Boolean> continuedRuns = new ArrayList<>();
        if (spec.shardLatents() && (spec.sweep() || spec.saes().getFirst().init() != null)) {
            throw new TrainingException("latent-sharded training trains one new SAE: not a sweep, nor one that starts"
                    + " from SaeSpec.init (--init)");
        }
        for (SaeSpec sae : spec.saes()) {
            Path dir = spec.sweep() ? top.resolve(sae.name()) : top;
            if (resuming) {
                checkSameSharding(dir, runId);
            }
            ShardedSae shard = null;
            boolean continued;
            SaeStart start;
            if (spec.shardLatents()) {
                // This rank's latents from the run's sharded checkpoint, or a new shard.
                ShardedCheckpoint.Loaded loaded = resuming ? resumeShards(dir, runId) : null;
                continued = loaded != null;
                if (!continued) {
                    checkDistributed(sae.name(), sae.config());
                }
                shard = continued ? loaded.sae() : ShardedSae.create(sae.config(), spec.group());
                toClose.add(shard);
                start = new SaeStart(
                        null, continued ? ResumeState.fromExtra(loaded.extra()) : ResumeState.fresh(), continued);
            } else {
                // Resuming: from the SAE's own checkpoint when the killed run got to write one; else the run
                // starts this SAE over exactly as it first did (new, or from init).
                continued = resuming && RunFile.hasCheckpointOf(dir, runId);
                start = continued
                        ? SaeStart.load(dir, spec.overrides()::apply)
                        : sae.config() != null
                                ? SaeStart.fresh(sae.config())
                                : SaeStart.init(
                                        sae.init(),
                                        spec.overrides()::apply,
                                        sae.architecture(),
                                        sae.k(),
                                        sae.matryoshkaWidths());
                toClose.add(start.sae());
            }
            starts.add(start);
            shards.add(shard);
            continuedRuns.add(continued);
            SaeConfig config = shard != null ? shard.config() : start.sae().config();
            if (continued && start.state().runSteps() > steps) {
                throw new TrainingException("TrainingRun.resume " + dir + ": its checkpoint is at step "
                        + start.state().runSteps() + ", past the run's " + steps + " steps");
            }
            if (continued) {
                checkSameData(dir, start.state(), fingerprint, data, order);
            }
            if (spec.group() != null) {
                checkDistributed(sae.name(), config);
            }
            if (config.dIn() != data.width()) {
                throw new TrainingException("the data has width d = " + data.width() + " (" + data.describe() + ") but "
                        + (sae.init() != null && !continued
                                ? "the SaeSpec.init SAE " + sae.init()
                                : "the SAE in " + dir)
                        + " has d_in = " + config.dIn());
            }
            long done = continued ? start.state().runSteps() : 0;
            if (done < fewestSteps) {
                fewestSteps = done;
                position = continued || sae.init() != null
                        ? start.state().positionIn(data.rows(), order)
                        : DataPosition.START;
            }
            if (Double.isNaN(baseLr)) {
                baseLr = continued && Double.isFinite(start.state().baseLr())
                        ? start.state().baseLr()
                        : spec.overrides().lr() != null ? spec.overrides().lr() : config.lr();
                seed = config.seed();
            }
        }
        if (fewestSteps >= steps) {
            throw new TrainingException("TrainingRun.resume " + out + ": the run is already complete (" + steps + " of "
                    + steps + " steps)");
        }

        Path startsInPlace = spec.saes().size() == 1 && spec.saes().getFirst().init() != null
                ? spec.saes().getFirst().init()
                : null;
        boolean writes = spec.writes();
        if (writes
                && !resuming
                && !(startsInPlace != null && Files.isDirectory(top) && Files.isSameFile(top, startsInPlace))) {
            OutputDirectory.clearForNewRun(out, spec.overwrite());
        }
        Set<String> names =
                new TreeSet<>(spec.saes().stream().map(SaeSpec::name).toList());
        OutputDirectory topOutput = writes
                ? OutputDirectory.prepare(out, spec.sweep() ? names : Set.of())
                : OutputDirectory.notWrittenHere(top);
        if (writes && !resuming) {
            runId = RunFile.write(top, spec.provenance() != null ? spec.provenance() : RunSpecJson.provenance(spec));
        }
        List<Trainer.Member> members = new ArrayList<>();
        for (int i = 0; i < spec.saes().size(); i++) {
            SaeSpec sae = spec.saes().get(i);
            SaeStart start = starts.get(i);
            boolean continued = continuedRuns.get(i);
            ShardedSae shard = shards.get(i);
            if (!writes) {
                members.add(new Trainer.Member(
                        sae.name(),
                        start.sae(),
                        shard,
                        spec.sweep() ? OutputDirectory.notWrittenHere(top.resolve(sae.name())) : topOutput,
                        null,
                        null,
                        spec.metadata(),
                        continued ? start.state().runSteps() : 0,
                        start.state().tokens()));
                continue;
            }
            OutputDirectory output = spec.sweep() ? OutputDirectory.prepare(top.resolve(sae.name())) : topOutput;
            boolean append = continued || (!resuming && sae.init() != null && output.isSameAs(sae.init()));
            if (continued) {
                MetricsLog.truncateAfter(output.metricsFile(), start.state().tokens());
                MetricsLog.truncateAfter(
                        output.path().resolve(EvalLog.FILE), start.state().tokens());
            }
            MetricsLog log = MetricsLog.open(output.metricsFile(), append);
            toClose.add(log);
            EvalLog evalLog = null;
            if (evalActivations != null) {
                evalLog = EvalLog.open(output.path().resolve(EvalLog.FILE), append);
                toClose.add(evalLog);
            }
            members.add(new Trainer.Member(
                    sae.name(),
                    start.sae(),
                    shard,
                    output,
                    log,
                    evalLog,
                    spec.metadata(),
                    continued ? start.state().runSteps() : 0,
                    start.state().tokens()));
        }

        RowStream stream = data.stream(position, seed);
        Trainer.Rank rank = null;
        if (spec.shardLatents()) {
            // Every rank reads every whole batch.
            rank = new Trainer.Rank(spec.group(), spec.batchSize(), 0);
        } else if (spec.group() != null) {
            RankRows share = new RankRows(
                    stream, spec.group().rank(), spec.group().worldSize(), spec.prefetch() > 0 ? null : arena);
            rank = new Trainer.Rank(spec.group(), spec.batchSize(), share.firstRow());
            stream = share;
        }
        BatchSource batches = (BatchSource) stream;
        if (spec.prefetch() > 0) {
            // A CUDA SAE copies its batches from page-locked buffers by DMA, behind the previous step.
            boolean onGpu = members.stream().anyMatch(m -> m.deferMetrics); // the members on a CUDA device
            PrefetchingBatches prefetching = new PrefetchingBatches(stream, spec.prefetch(), arena, onGpu);
            toClose.add(prefetching);
            batches = prefetching;
        }
        LrSchedule schedule = spec.lrShape().of(baseLr, steps);
        // A latent-sharded run's ranks all take part in its evaluations (rank 0 gathers the SAE and evaluates).
        boolean evaluates = spec.shardLatents() ? evalActivations != null : evalSet != null;
        long evalPeriod = !evaluates ? 0 : spec.evalEvery() != null ? spec.evalEvery() : Math.max(1, steps / 10);
        Trainer.Plan plan = new Trainer.Plan(
                steps,
                schedule,
                LogSchedule.of(steps, spec.logEvery()),
                spec.checkpointEvery(),
                evalPeriod,
                data.rows(),
                order,
                runId,
                fingerprint,
                out);
        trainer = new Trainer(members, batches, data.origin(seed), plan, evalSet, spec.listener(), rank);
    }

    /** What the data-parallel or latent-sharded step trains, checked before anything in the directory changes. */
    private void checkDistributed(String name, SaeConfig config) {
        String mode = spec.shardLatents() ? "latent-sharded" : "data-parallel";
        if (config.architecture() != Architecture.BATCHTOPK && config.architecture() != Architecture.TOPK) {
            throw new TrainingException(mode + " training supports the batchtopk and topk architectures, not "
                    + config.architecture().cliName() + " (" + name + ")");
        }
        if (config.path() != StepPath.FUSED) {
            throw new TrainingException(mode + " training runs the fused path only, not "
                    + config.path().name().toLowerCase(java.util.Locale.ROOT) + " (" + name + ")");
        }
    }

    /**
     * Resuming: a latent-sharded checkpoint ({@link ShardedCheckpoint#MANIFEST}) goes on latent-sharded, and
     * an SAE's own checkpoint goes on as one SAE (one process or data-parallel).
     */
    private void checkSameSharding(Path dir, String runId) throws IOException {
        boolean shardedCheckpoint = Files.exists(dir.resolve(ShardedCheckpoint.MANIFEST));
        if (shardedCheckpoint && !spec.shardLatents()) {
            throw new TrainingException("TrainingRun.resume " + dir + ": its checkpoint is latent-sharded ("
                    + ShardedCheckpoint.MANIFEST + "); go on latent-sharded (RunSpec.withLatentSharding, train"
                    + " --parallel latents)");
        }
        if (!shardedCheckpoint && spec.shardLatents() && RunFile.hasCheckpointOf(dir, runId)) {
            throw new TrainingException("TrainingRun.resume " + dir + ": its checkpoint (" + Checkpoint.STATE_FILE
                    + ") is of a run that was not latent-sharded; go on without latent sharding (train --parallel"
                    + " data)");
        }
    }

    /** This rank's shard from the run's sharded checkpoint in {@code dir}; null when it has none of its own. */
    private ShardedCheckpoint.Loaded resumeShards(Path dir, String runId) throws IOException {
        if (!Files.exists(dir.resolve(ShardedCheckpoint.MANIFEST))) {
            return null;
        }
        ShardedCheckpoint.Loaded loaded = ShardedCheckpoint.resume(dir, spec.group());
        if (runId.isEmpty() || !runId.equals(loaded.extra().get(RunFile.ID_KEY))) {
            loaded.close();
            return null;
        }
        return loaded;
    }

    /**
     * Resuming: the data must be what the checkpoint was trained on (its files' fingerprints, its row count
     * and order), unless changed data is allowed; then a warning says what changed, and data of another
     * length or order is read from its start. A checkpoint without fingerprints (saved by an earlier
     * version) is resumed with a warning that the files cannot be checked.
     */
    private void checkSameData(Path dir, ResumeState saved, DataFingerprint now, TrainingData data, String order) {
        Path out = spec.out();
        if (saved.data() == null) {
            warnOnce("TrainingRun.resume " + out
                    + ": the checkpoint keeps no fingerprint of its data (saved by an earlier"
                    + " version), so changed data files cannot be detected");
        } else {
            List<String> changes = now.changesSince(saved.data());
            if (!changes.isEmpty()) {
                String what = String.join("; ", changes);
                if (!allowChangedData) {
                    throw new TrainingException(
                            "TrainingRun.resume " + dir + ": the data changed since the checkpoint: "
                                    + what
                                    + ". Put the data back, or resume with allowChangedData to train on it as it is now (the run then"
                                    + " no longer matches an uninterrupted one)");
                }
                warnOnce("TrainingRun.resume " + out + ": the data changed since the checkpoint (" + what
                        + "); going on, as allowChangedData asks");
            }
        }
        if (saved.dataRows() == data.rows() && saved.order().equals(order)) {
            return;
        }
        if (allowChangedData) {
            warnOnce("TrainingRun.resume " + out
                    + ": the data is not the length or order the checkpoint's position refers"
                    + " to; it is read from its start");
        } else if (order.startsWith("text")) {
            throw new TrainingException("TrainingRun.resume " + dir
                    + ": the checkpoint was taken over other text or another" + " extraction than " + data.describe()
                    + "; the text changed, so the run cannot go on exactly");
        } else {
            throw new TrainingException(
                    "TrainingRun.resume " + dir + ": the checkpoint was taken over " + saved.dataRows()
                            + " rows read " + saved.order() + ", but the data is now " + data.describe()
                            + " read " + order + "; the data files changed, so the run cannot go on exactly");
        }
    }

    private void warnOnce(String message) {
        if (warned.add(message)) {
            spec.listener().onWarning(message);
        }
    }

    /** The run as it was specified (for a resumed one: as saved). */
    public RunSpec spec() {
        return spec;
    }

    /**
     * Sets the GPU precision of every SAE of the run on a CUDA device (a run setting, not saved with the
     * SAEs: a resumed run takes it again). SAEs on the CPU are left alone.
     */
    public void setGpuPrecision(GpuPrecision precision) {
        trainer.setGpuPrecision(precision);
    }

    /**
     * Trains to the last step, saving checkpoints on the way and every SAE at the end.
     *
     * @throws TrainingException if the run diverges, a batch holds a NaN or an infinity (the SAEs are
     *     saved as of the step before), an evaluation or a checkpoint fails
     * @throws IllegalStateException if called twice
     */
    public RunResult train() throws IOException {
        if (trained) {
            throw new IllegalStateException("this run has already trained; resume it from its directory for more");
        }
        trained = true;
        return trainer.run();
    }

    /** Stops the prefetch thread and frees the SAEs, buffers and mappings. Idempotent. */
    @Override
    public void close() throws IOException {
        Throwable first = null;
        // In reverse: the prefetch thread stops before anything it uses goes.
        for (int i = toClose.size() - 1; i >= 0; i--) {
            try {
                toClose.get(i).close();
            } catch (Exception e) {
                if (first == null) first = e;
            }
        }
        toClose.clear();
        if (arena.scope().isAlive()) {
            arena.close();
        }
        if (first instanceof IOException io) throw io;
        if (first instanceof RuntimeException re) throw re;
        if (first != null) throw new IOException(first);
    }
}
