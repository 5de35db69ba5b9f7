package ai.batchtopk.train;

import ai.batchtopk.ProcessGroup;
import ai.batchtopk.SaeConfig;
import ai.batchtopk.data.DataSource;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Everything a training run does, checked as a whole when it is made ({@link #builder}).
 *
 * @param data where the training rows come from
 * @param saes the SAEs trained on the same batches (one, or a sweep's several)
 * @param sweep whether each SAE goes to {@code out/<name>/} (else the one SAE goes to {@code out})
 * @param out the run's directory: SAELens directory and checkpoint, metrics.jsonl, eval.jsonl, run.json
 * @param batchSize rows per step
 * @param steps optimizer steps of the whole run
 * @param lrShape warm-up and decay of the learning rate (the rate itself is the SAEs' config's)
 * @param overrides settings that replace those of the SAEs the run loads (checkpoints, {@code init})
 * @param evalData held-out activation files (empty: no evaluation)
 * @param evalTokens rows of {@code evalData} to evaluate on: the first ones
 * @param evalEvery an evaluation each this many steps and at the end (null: about 10 in the run)
 * @param checkpointEvery a checkpoint each this many steps (0: only at the end)
 * @param logEvery a metrics line each this many steps (null: every step up to 200 steps, else ~200 lines)
 * @param prefetch batches a background thread prepares ahead (0: none)
 * @param overwrite whether a previous run in {@code out} may be replaced
 * @param metadata SAELens metadata for cfg.json (where the activations came from)
 * @param provenance what run.json keeps besides the run's id (null: this specification, so that
 *     {@link TrainingRun#resume(Path)} can find it again)
 * @param listener told of each step, evaluation and warning
 * @param group null for a run of one process; else this process is one rank of a data-parallel run over
 *     the group ({@link Builder#dataParallel}). Not saved: a run may go on with another number of ranks.
 * @param shardLatents whether the ranks of {@code group} share the SAE's latents rather than the batch
 *     ({@link Builder#latentSharded})
 */
public record RunSpec(
        DataSource data,
        List<SaeSpec> saes,
        boolean sweep,
        Path out,
        long batchSize,
        long steps,
        LrSchedule.Shape lrShape,
        ConfigOverrides overrides,
        List<Path> evalData,
        long evalTokens,
        Long evalEvery,
        long checkpointEvery,
        Long logEvery,
        int prefetch,
        boolean overwrite,
        Map<String, Object> metadata,
        Map<String, Object> provenance,
        RunListener listener,
        ProcessGroup group,
        boolean shardLatents) {
    public static final long DEFAULT_EVAL_TOKENS = 16384;
    public static final int DEFAULT_PREFETCH = 2;

    public RunSpec {
        Objects.requireNonNull(data, "data");
        Objects.requireNonNull(out, "out");
        Objects.requireNonNull(lrShape, "lrShape");
        Objects.requireNonNull(overrides, "overrides");
        Objects.requireNonNull(listener, "listener");
        saes = List.copyOf(saes);
        evalData = List.copyOf(evalData);
        metadata = metadata == null ? Map.of() : java.util.Collections.unmodifiableMap(new LinkedHashMap<>(metadata));
        if (saes.isEmpty()) {
            throw new IllegalArgumentException("a run needs an SAE to train");
        }
        if (saes.size() > 1 && !sweep) {
            throw new IllegalArgumentException("several SAEs need a sweep: each goes to a subdirectory of its name");
        }
        if (new HashSet<>(saes.stream().map(SaeSpec::name).toList()).size() != saes.size()) {
            throw new IllegalArgumentException("the SAEs of a sweep need different names: "
                    + saes.stream().map(SaeSpec::name).toList());
        }
        positive("batch size", batchSize);
        positive("steps", steps);
        positive("eval tokens", evalTokens);
        if (evalEvery != null) {
            positive("eval every", evalEvery);
            if (evalData.isEmpty()) {
                throw new IllegalArgumentException("evaluating every " + evalEvery + " steps needs held-out data");
            }
        }
        if (logEvery != null) {
            positive("log every", logEvery);
        }
        if (checkpointEvery < 0) {
            throw new IllegalArgumentException(
                    "checkpoint every must not be negative (0: only at the end), got " + checkpointEvery);
        }
        if (prefetch < 0) {
            throw new IllegalArgumentException(
                    "prefetch must not be negative (0: no prefetch thread), got " + prefetch);
        }
        if (lrShape.warmupSteps() >= steps && lrShape.decay() != LrSchedule.Decay.NONE) {
            throw new IllegalArgumentException("a warm-up of " + lrShape.warmupSteps()
                    + " steps leaves no steps to decay" + " over (the run has " + steps + ")");
        }
        if (shardLatents && group == null) {
            throw new IllegalArgumentException("latent sharding needs the group of ranks that share the latents");
        }
        if (group != null && !shardLatents && batchSize < group.worldSize()) {
            throw new IllegalArgumentException("batch size " + batchSize + " is smaller than the " + group.worldSize()
                    + " ranks: each needs at least one row of every batch");
        }
    }

    /** Whether this process writes the run's files: the only process of its run, or rank 0 of a group. */
    public boolean writes() {
        return group == null || group.rank() == 0;
    }

    private static void positive(String what, long value) {
        if (value <= 0) {
            throw new IllegalArgumentException(what + " must be positive, got " + value);
        }
    }

    /** A run of the SAEs added to the builder on {@code data}, into {@code out}. */
    public static Builder builder(DataSource data, Path out) {
        return new Builder(data, out);
    }

    /** The same run with another listener (not part of what is saved). */
    public RunSpec withListener(RunListener listener) {
        return copy(out, listener, group, shardLatents);
    }

    /** The same run in another directory (a run resumed where its files are now). */
    public RunSpec withOut(Path out) {
        return copy(out, listener, group, shardLatents);
    }

    /**
     * The same run as one rank of a data-parallel run over {@code group} (null: one process), e.g. a run
     * read back from its directory to go on with another number of ranks.
     */
    public RunSpec withGroup(ProcessGroup group) {
        return copy(out, listener, group, false);
    }

    /**
     * The same run as one rank of a latent-sharded run over {@code group} ({@link Builder#latentSharded}),
     * e.g. a run read back from its directory.
     */
    public RunSpec withLatentSharding(ProcessGroup group) {
        return copy(out, listener, Objects.requireNonNull(group, "group"), true);
    }

    /** This run with the components that may change after it is specified: where, who listens, which ranks. */
    private RunSpec copy(Path out, RunListener listener, ProcessGroup group, boolean shardLatents) {
        return new RunSpec(
                data,
                saes,
                sweep,
                out,
                batchSize,
                steps,
                lrShape,
                overrides,
                evalData,
                evalTokens,
                evalEvery,
                checkpointEvery,
                logEvery,
                prefetch,
                overwrite,
                metadata,
                provenance,
                listener,
                group,
                shardLatents);
    }

    public static final class Builder {
        private final DataSource data;
        private final Path out;
        private final List<SaeSpec> saes = new ArrayList<>();
        private boolean sweep;
        private long batchSize;
        private long steps;
        private Long tokens;
        private LrSchedule.Shape lrShape = LrSchedule.Shape.CONSTANT;
        private ConfigOverrides overrides = ConfigOverrides.NONE;
        private List<Path> evalData = List.of();
        private long evalTokens = DEFAULT_EVAL_TOKENS;
        private Long evalEvery;
        private long checkpointEvery;
        private Long logEvery;
        private int prefetch = DEFAULT_PREFETCH;
        private boolean overwrite;
        private Map<String, Object> metadata = Map.of();
        private Map<String, Object> provenance;
        private RunListener listener = RunListener.NONE;
        private ProcessGroup group;
        private boolean shardLatents;

        private Builder(DataSource data, Path out) {
            this.data = data;
            this.out = out;
        }

        /** A new SAE (named after its architecture and size, for messages). */
        public Builder sae(SaeConfig config) {
            return sae(
                    SaeSpec.of(config.architecture().cliName() + "-dsae" + config.dSae() + "-k" + config.k(), config));
        }

        public Builder sae(SaeSpec sae) {
            saes.add(sae);
            return this;
        }

        /** Each SAE in a subdirectory of its name (several SAEs need it). */
        public Builder sweep(boolean sweep) {
            this.sweep = sweep;
            return this;
        }

        public Builder batchSize(long batchSize) {
            this.batchSize = batchSize;
            return this;
        }

        public Builder steps(long steps) {
            this.steps = steps;
            this.tokens = null;
            return this;
        }

        /** The length as tokens: ceil(tokens / batch size) steps. */
        public Builder tokens(long tokens) {
            this.tokens = tokens;
            return this;
        }

        public Builder lrSchedule(LrSchedule.Shape shape) {
            this.lrShape = shape;
            return this;
        }

        public Builder overrides(ConfigOverrides overrides) {
            this.overrides = overrides;
            return this;
        }

        /** Held-out activation files to evaluate on (the first {@link #evalTokens} rows). */
        public Builder evalData(List<Path> files) {
            this.evalData = files;
            return this;
        }

        public Builder evalTokens(long rows) {
            this.evalTokens = rows;
            return this;
        }

        public Builder evalEvery(long steps) {
            this.evalEvery = steps;
            return this;
        }

        public Builder checkpointEvery(long steps) {
            this.checkpointEvery = steps;
            return this;
        }

        public Builder logEvery(long steps) {
            this.logEvery = steps;
            return this;
        }

        public Builder prefetch(int batches) {
            this.prefetch = batches;
            return this;
        }

        public Builder overwrite(boolean overwrite) {
            this.overwrite = overwrite;
            return this;
        }

        public Builder metadata(Map<String, Object> metadata) {
            this.metadata = metadata;
            return this;
        }

        public Builder provenance(Map<String, Object> provenance) {
            this.provenance = provenance;
            return this;
        }

        public Builder listener(RunListener listener) {
            this.listener = listener;
            return this;
        }

        /** Shorthand for a {@link #listener} that only follows the steps. */
        public Builder onProgress(RunListener onStep) {
            return listener(onStep);
        }

        /**
         * This process as one rank of a data-parallel run over {@code group} (every rank builds the same
         * specification): {@link #batchSize} stays the global batch, of which each rank reads and trains
         * on its consecutive block of rows ({@link ai.batchtopk.Sae#trainStep(ai.batchtopk.io.Tensor, ProcessGroup)}),
         * in the order one process would read them; every rank ends each step with the same SAEs, and only
         * rank 0 writes the run's directory. BatchTopK and TopK, fused path.
         */
        public Builder dataParallel(ProcessGroup group) {
            this.group = group;
            this.shardLatents = false;
            return this;
        }

        /**
         * This process as one rank of a latent-sharded run over {@code group} (every rank builds the same
         * specification), for dictionaries larger than one process holds: each rank owns its block of the
         * latents ({@link ai.batchtopk.ShardedSae}) and reads every whole batch, in the order one process
         * would. Checkpoints are one file per rank plus a manifest ({@link ai.batchtopk.ShardedCheckpoint},
         * written by every rank); rank 0 gathers the SAE to evaluate it and to write the SAELens files at
         * the end, and writes the run's other files. One SAE (no sweep, no {@link SaeSpec#init}); BatchTopK
         * and TopK, fused path.
         */
        public Builder latentSharded(ProcessGroup group) {
            this.group = Objects.requireNonNull(group, "group");
            this.shardLatents = true;
            return this;
        }

        /** @throws IllegalArgumentException naming what does not fit */
        public RunSpec build() {
            if (batchSize <= 0) {
                throw new IllegalArgumentException("batch size must be positive, got " + batchSize);
            }
            long length = tokens != null ? Math.ceilDiv(tokens, batchSize) : steps;
            return new RunSpec(
                    data,
                    saes,
                    sweep || saes.size() > 1,
                    out,
                    batchSize,
                    length,
                    lrShape,
                    overrides,
                    evalData,
                    evalTokens,
                    evalEvery,
                    checkpointEvery,
                    logEvery,
                    prefetch,
                    overwrite,
                    metadata,
                    provenance,
                    listener,
                    group,
                    shardLatents);
        }
    }
}
