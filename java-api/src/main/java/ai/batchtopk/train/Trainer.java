package ai.batchtopk.train;

import ai.batchtopk.BatchTopKException;
import ai.batchtopk.Device;
import ai.batchtopk.ErrorMessages;
import ai.batchtopk.EvalResult;
import ai.batchtopk.GpuPrecision;
import ai.batchtopk.ProcessGroup;
import ai.batchtopk.Sae;
import ai.batchtopk.ShardedSae;
import ai.batchtopk.Status;
import ai.batchtopk.StepMetrics;
import ai.batchtopk.data.BatchSource;
import ai.batchtopk.data.DataFingerprint;
import ai.batchtopk.data.DataPosition;
import ai.batchtopk.data.NonFiniteValue;
import ai.batchtopk.data.RowOrigin;
import ai.batchtopk.io.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.function.LongSupplier;

/**
 * The training loop: a batch, a step for each SAE of the run (one, or a sweep's several, all on the
 * same batch: the data is read once), and now and then a metrics line, an evaluation, a checkpoint and
 * a redraw of the progress bar. Everything else (what the batches are, where the SAEs came from,
 * where they go) is decided by the caller.
 *
 * <p>Steps are numbered over the whole run, resumed parts included: step {@code s} of a run is the
 * same batch, the same learning rate and the same log/eval/checkpoint decision however often the run
 * was interrupted. An SAE whose checkpoint is ahead of the others' (a kill in the middle of a round
 * of checkpoints) skips the batches it has already trained on.
 *
 * <p>A batch holding a NaN or an infinity stops the run, but not before every SAE is saved as it was
 * before that batch (so {@code --resume} can go on once the data is fixed), and the message names the
 * file and row the value came from. A failed evaluation saves the SAEs too.
 *
 * <p>In a data-parallel run ({@link Rank}) each rank's batches are its block of the global ones, every
 * rank steps with the same SAEs, and only rank 0 writes metrics, evaluations and checkpoints. In a
 * latent-sharded one ({@link Member#sharded}) every rank steps its shard on the whole batch and writes its
 * shard of each checkpoint; all take part in evaluations and the last save, which gather the SAE to rank 0.
 */
final class Trainer {
    /** One SAE of the run, with its output directory and logs. */
    static final class Member {
        final String name;
        /** Null in a latent-sharded run. */
        final Sae sae;
        /** This rank's shard in a latent-sharded run, else null. */
        final ShardedSae sharded;

        final OutputDirectory output;
        final MetricsLog log;
        final EvalLog evalLog;
        final Map<String, ?> metadata;
        long stepsDone;
        long tokens;
        StepMetrics last;
        // A CUDA SAE's steps do not read their metrics except on logged steps.
        final boolean deferMetrics;
        // When this SAE's last metrics line was written (the clock right after its step) and its tokens then.
        private long loggedAt;
        private long loggedTokens;

        /**
         * @param log null when this process writes no logs (a rank other than 0)
         * @param evalLog null without --eval-data, or when this process writes no logs
         */
        Member(
                String name,
                Sae sae,
                OutputDirectory output,
                MetricsLog log,
                EvalLog evalLog,
                Map<String, ?> metadata,
                long stepsDone,
                long tokens) {
            this(name, Objects.requireNonNull(sae, "sae"), null, output, log, evalLog, metadata, stepsDone, tokens);
        }

        /**
         * @param sae the SAE, or null in a latent-sharded run
         * @param sharded this rank's shard in a latent-sharded run (every rank trains and saves its shard),
         *     else null
         */
        Member(
                String name,
                Sae sae,
                ShardedSae sharded,
                OutputDirectory output,
                MetricsLog log,
                EvalLog evalLog,
                Map<String, ?> metadata,
                long stepsDone,
                long tokens) {
            if ((sae == null) == (sharded == null)) {
                throw new IllegalArgumentException("a member is an SAE or a shard of one");
            }
            this.name = name;
            this.sae = sae;
            this.sharded = sharded;
            this.deferMetrics = sae != null && sae.config().device() == Device.CUDA;
            this.output = Objects.requireNonNull(output, "output");
            this.log = log;
            this.evalLog = evalLog;
            this.metadata = metadata;
            this.stepsDone = stepsDone;
            this.tokens = tokens;
        }
    }

    /**
     * How the run goes.
     *
     * @param steps total steps of the run
     * @param lr the learning rate of each step
     * @param logs which steps write a metrics line
     * @param checkpointEvery a checkpoint of every SAE each this many steps (0: only at the end)
     * @param evalEvery an evaluation each this many steps and at the end (0: none)
     * @param dataRows rows of the training data, for the checkpoints
     * @param order the row order's name, for the checkpoints
     * @param runId the run's id (run.json), saved in its checkpoints
     * @param data the files the run reads, saved in its checkpoints (null: none kept)
     * @param out the run's --out directory, for messages
     */
    record Plan(
            long steps,
            LrSchedule lr,
            LogSchedule logs,
            long checkpointEvery,
            long evalEvery,
            long dataRows,
            String order,
            String runId,
            DataFingerprint data,
            Path out) {}

    /**
     * This process's part in a data-parallel run: its group, the global batch size, and where its block of
     * rows starts in each global batch.
     */
    record Rank(ProcessGroup group, long batchSize, long firstRow) {
        boolean writes() {
            return group.rank() == 0;
        }
    }

    /** Test hook: slows each step down (ms) so that a test can kill a run in the middle. */
    private static final long STEP_DELAY_MS = Long.getLong("batchtopk.test.step-delay-ms", 0);

    private final List<Member> members;
    private final BatchSource batches;
    private final RowOrigin origin;
    private final Plan plan;
    private final EvalSet evalSet;
    private final RunListener listener;
    private final LongSupplier clock;
    private final Rank rank;

    /**
     * @param origin where the rows of {@code batches} come from, for messages
     * @param evalSet null for no evaluation
     * @param listener told of each step and evaluation
     */
    Trainer(
            List<Member> members,
            BatchSource batches,
            RowOrigin origin,
            Plan plan,
            EvalSet evalSet,
            RunListener listener) {
        this(members, batches, origin, plan, evalSet, listener, System::nanoTime, null);
    }

    /** @param rank this process's part in a data-parallel run; null for a run of one process */
    Trainer(
            List<Member> members,
            BatchSource batches,
            RowOrigin origin,
            Plan plan,
            EvalSet evalSet,
            RunListener listener,
            Rank rank) {
        this(members, batches, origin, plan, evalSet, listener, System::nanoTime, rank);
    }

    /** Sets the GPU precision of the members on a CUDA device. */
    void setGpuPrecision(GpuPrecision precision) {
        for (Member member : members) {
            if (member.deferMetrics) member.sae.setGpuPrecision(precision);
        }
    }

    /** @param clock nanoseconds, for the tokens/s of the metrics lines and the result (a test gives its own) */
    Trainer(
            List<Member> members,
            BatchSource batches,
            RowOrigin origin,
            Plan plan,
            EvalSet evalSet,
            RunListener listener,
            LongSupplier clock) {
        this(members, batches, origin, plan, evalSet, listener, clock, null);
    }

    private Trainer(
            List<Member> members,
            BatchSource batches,
            RowOrigin origin,
            Plan plan,
            EvalSet evalSet,
            RunListener listener,
            LongSupplier clock,
            Rank rank) {
        if (members.isEmpty()) {
            throw new IllegalArgumentException("no SAE to train");
        }
        this.members = List.copyOf(members);
        this.batches = Objects.requireNonNull(batches, "batches");
        this.origin = Objects.requireNonNull(origin, "origin");
        this.plan = Objects.requireNonNull(plan, "plan");
        this.evalSet = evalSet;
        this.listener = Objects.requireNonNull(listener, "listener");
        this.clock = Objects.requireNonNull(clock, "clock");
        this.rank = rank;
    }

    /** The same training, its checkpoints marked with the run {@code id}. */
    Trainer withRunId(String id) {
        Plan p = plan;
        return new Trainer(
                members,
                batches,
                origin,
                new Plan(
                        p.steps(),
                        p.lr(),
                        p.logs(),
                        p.checkpointEvery(),
                        p.evalEvery(),
                        p.dataRows(),
                        p.order(),
                        id,
                        p.data(),
                        p.out()),
                evalSet,
                listener,
                clock,
                rank);
    }

    /** Whether the run's SAE is sharded over the ranks: then every rank saves and takes part in evaluations. */
    private boolean latentSharded() {
        return members.getFirst().sharded != null;
    }

    /** Whether this process writes logs and checkpoints: the only one of its run, or rank 0. */
    private boolean writes() {
        return rank == null || rank.writes();
    }

    /**
     * Runs the steps after the first one any SAE still needs up to {@code plan.steps()}, saving
     * checkpoints on the way and every SAE at the end.
     *
     * @throws TrainingException if the loss stops being finite (after logging that step), if a batch holds a NaN
     *     or an infinity or an evaluation fails (after saving every SAE), or if a save fails
     */
    RunResult run() throws IOException {
        long first = members.stream().mapToLong(m -> m.stepsDone).min().orElseThrow() + 1;
        long start = clock.getAsLong();
        for (Member member : members) {
            member.loggedAt = start;
            member.loggedTokens = member.tokens;
        }
        long tokensThisRun = 0;
        boolean varies = plan.lr().varies();
        for (long s = first; s <= plan.steps(); s++) {
            DataPosition batchStart = batches.position();
            Tensor batch = batches.next();
            // Tokens count the global batch: every rank's logs and checkpoints tell the run's tokens.
            long rows = rank == null ? batch.dim(0) : rank.batchSize();
            double lr = plan.lr().at(s);
            boolean logs = plan.logs().logs(s);
            for (Member member : members) {
                if (member.stepsDone >= s) {
                    continue;
                }
                if (varies && member.sharded != null) {
                    member.sharded.setLearningRate(lr);
                } else if (varies) {
                    member.sae.setLearningRate(lr);
                }
                StepMetrics m;
                try {
                    if (member.sharded != null) {
                        m = member.sharded.trainStep(batch);
                    } else if (rank != null) {
                        m = member.sae.trainStep(batch, rank.group());
                    } else if (member.deferMetrics && member.last != null && !logs && s < plan.steps()) {
                        // On the GPU the metrics are read only when logged, so that the host never waits
                        // for a step; between lines, progress shows the last line's metrics.
                        member.sae.trainStepDeferred(batch);
                        m = member.last;
                    } else {
                        m = member.sae.trainStep(batch);
                    }
                } catch (BatchTopKException e) {
                    Optional<NonFiniteValue> bad =
                            e.status() == Status.NON_FINITE ? NonFiniteValue.firstIn(batch) : Optional.empty();
                    if (bad.isEmpty()) {
                        throw e;
                    }
                    throw stopOnBadData(s, batchStart, bad.get(), e);
                }
                member.stepsDone = s;
                member.tokens += rows;
                member.last = m;
                boolean diverged = !Double.isFinite(m.loss());
                if ((logs || diverged) && member.log != null) {
                    // Tokens/s since this SAE's previous line: its tokens since then over the time from the end of
                    // that line's step to the end of this one, so the window holds every step it counts (in a
                    // sweep, a whole round of the others' steps too). Reading the clock before the step left the
                    // first line's window almost empty: tens of millions of tokens/s.
                    long now = clock.getAsLong();
                    double window = (now - member.loggedAt) / 1e9;
                    member.log.write(
                            m, member.tokens, window > 0 ? (member.tokens - member.loggedTokens) / window : 0, lr);
                    member.loggedAt = now;
                    member.loggedTokens = member.tokens;
                }
                if (diverged) {
                    listener.onEnd();
                    throw new TrainingException("training diverged at step " + m.step()
                            + (members.size() > 1 ? " of " + member.name : "") + ": the loss is " + m.loss()
                            + " (mse " + m.mse() + ", aux " + m.auxLoss()
                            + "); try a smaller learning rate (SaeConfig.lr)");
                }
            }
            tokensThisRun += rows;
            listener.onStep(new Progress(
                    s,
                    plan.steps(),
                    s - first + 1,
                    plan.steps() - first + 1,
                    tokensThisRun,
                    (clock.getAsLong() - start) / 1e9,
                    members.getFirst().last));
            if ((writes() || latentSharded())
                    && plan.evalEvery() > 0
                    && (s % plan.evalEvery() == 0 || s == plan.steps())) {
                try {
                    evaluate();
                } catch (RuntimeException e) {
                    throw stopOnFailedEvaluation(s, e);
                }
            }
            if (plan.checkpointEvery() > 0 && s % plan.checkpointEvery() == 0 && s < plan.steps()) {
                saveAll();
            }
            if (STEP_DELAY_MS > 0) {
                try {
                    Thread.sleep(STEP_DELAY_MS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new TrainingException("interrupted", e);
                }
            }
        }
        listener.onEnd();
        double seconds = (clock.getAsLong() - start) / 1e9;
        saveAll(batches.position(), members, true);
        Member head = members.getFirst();
        return new RunResult(
                head.last,
                head.tokens,
                tokensThisRun,
                seconds,
                batches.position(),
                members.stream()
                        .map(m -> new RunResult.Sae(m.name, m.last, m.output.path()))
                        .toList());
    }

    /** Every SAE's checkpoint at the current position (they are all at the same step here). */
    private void saveAll() {
        saveAll(batches.position(), members);
    }

    /** The checkpoints of {@code which}, at {@code position}. */
    private void saveAll(DataPosition position, List<Member> which) {
        saveAll(position, which, false);
    }

    /**
     * The checkpoints of {@code which}, at {@code position}; a latent-sharded run's by every rank, and at
     * {@code last} its SAELens files too (gathered to rank 0).
     */
    private void saveAll(DataPosition position, List<Member> which, boolean last) {
        if (!writes() && !latentSharded()) {
            return;
        }
        for (Member member : which) {
            ResumeState state = new ResumeState(
                    member.tokens,
                    plan.dataRows(),
                    plan.order(),
                    position,
                    member.stepsDone,
                    plan.lr().lr(),
                    plan.data());
            Map<String, String> extra = new java.util.LinkedHashMap<>(state.toExtra());
            extra.put(RunFile.ID_KEY, plan.runId());
            if (member.sharded != null) {
                member.output.saveShards(member.sharded, member.metadata, extra, member.stepsDone, last);
            } else {
                member.output.save(member.sae, member.metadata, extra, member.stepsDone);
            }
        }
    }

    /**
     * Saves every SAE that has not trained on the bad batch yet (all of them but any a resumed sweep had
     * already taken past it) as it was before that batch, and says where the value came from.
     */
    private TrainingException stopOnBadData(long step, DataPosition batchStart, NonFiniteValue bad, Exception cause) {
        listener.onEnd();
        long row = rank == null ? bad.row() : rank.firstRow() + bad.row();
        String problem = origin.describe(batchStart, row) + " holds " + bad.describe() + " (in the batch of step "
                + step + "); training needs finite activations";
        if (rank != null) {
            // Only this rank saw the value, and rank 0 writes the checkpoints: the run stops where its last one is.
            return new TrainingException(
                    problem + ". Fix that row, then go on from the last checkpoint with 'train --resume " + plan.out()
                            + " --allow-changed-data'",
                    cause);
        }
        List<Member> behind = members.stream().filter(m -> m.stepsDone < step).toList();
        try {
            saveAll(batchStart, behind);
        } catch (TrainingException saveFailed) {
            return new TrainingException(
                    problem + "; saving the run before stopping failed too: " + saveFailed.getMessage(), cause);
        }
        return new TrainingException(
                problem + ". Saved the SAE" + (members.size() > 1 ? "s" : "") + " as of step "
                        + (step - 1) + " in " + plan.out() + ": fix that row, then go on with TrainingRun.resume "
                        + plan.out() + " and allowChangedData",
                cause);
    }

    private TrainingException stopOnFailedEvaluation(long step, RuntimeException cause) {
        listener.onEnd();
        String problem =
                "evaluating on RunSpec.evalData after step " + step + " failed: " + ErrorMessages.describe(cause);
        if (latentSharded()) {
            // Only rank 0 evaluated: a save needs every rank, so the run stops where its last checkpoint is.
            return new TrainingException(
                    problem + "; go on from the last checkpoint with TrainingRun.resume " + plan.out(), cause);
        }
        try {
            saveAll();
        } catch (TrainingException saveFailed) {
            return new TrainingException(
                    problem + "; saving the run before stopping failed too: " + saveFailed.getMessage(), cause);
        }
        return new TrainingException(
                problem + "; saved the SAE" + (members.size() > 1 ? "s" : "") + " as of step " + step + " in "
                        + plan.out() + " (go on with TrainingRun.resume " + plan.out() + ")",
                cause);
    }

    private void evaluate() throws IOException {
        for (Member member : members) {
            if (member.sharded != null) {
                // Collective: every rank sends its latents, rank 0 evaluates the whole SAE.
                Optional<Sae> whole = member.sharded.gather();
                if (whole.isPresent()) {
                    try (Sae sae = whole.get()) {
                        log(member, evalSet.evaluate(sae));
                    }
                }
                continue;
            }
            log(member, evalSet.evaluate(member.sae));
        }
    }

    private void log(Member member, EvalResult result) throws IOException {
        long step = member.last != null ? member.last.step() : member.stepsDone;
        member.evalLog.write(step, member.tokens, result);
        listener.onEvaluation(member.name, step, result);
    }
}
