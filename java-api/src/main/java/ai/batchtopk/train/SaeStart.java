package ai.batchtopk.train;

import ai.batchtopk.Architecture;
import ai.batchtopk.Checkpoint;
import ai.batchtopk.Sae;
import ai.batchtopk.SaeConfig;
import ai.batchtopk.SaeLens;
import ai.batchtopk.WarmStart;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * The SAE a run starts from, and what it had been through: a new one, an SAELens directory (trained
 * parameters, fresh optimizer), one of our checkpoints (everything restored: Adam moments, step,
 * dead-latent counters, theta, tokens and data position, so the run goes on as if never stopped), or
 * the parameters of an SAE of another architecture ({@link WarmStart}: a new run).
 *
 * @param sae owned by the caller; null for a latent-sharded run's SAE (the run holds its shard)
 * @param state tokens and data position so far
 * @param resumed whether it came from a checkpoint
 */
record SaeStart(Sae sae, ResumeState state, boolean resumed) {

    static SaeStart fresh(SaeConfig config) {
        return new SaeStart(Sae.create(config), ResumeState.fresh(), false);
    }

    /**
     * Loads {@code dir}, as a checkpoint when it holds training state, else as an SAELens directory.
     *
     * @param adjust the settings of this run that replace the saved ones (lr, path, device...)
     */
    static SaeStart load(Path dir, UnaryOperator<SaeConfig.Builder> adjust) throws IOException {
        requireDirectory(dir);
        if (Files.exists(dir.resolve(Checkpoint.STATE_FILE))) {
            Checkpoint.Loaded loaded = Checkpoint.resume(dir, adjust);
            return new SaeStart(loaded.sae(), ResumeState.fromExtra(loaded.extra()), true);
        }
        return new SaeStart(SaeLens.load(dir, adjust), ResumeState.fresh(), false);
    }

    /**
     * {@code --init dir}: as {@link #load}, unless {@code architecture} differs from the saved one; then
     * a new run of that architecture starts from the saved parameters ({@link WarmStart}), with
     * {@code k} if given, else the saved k when the saved architecture has one.
     *
     * @param architecture the run's {@code --arch}, null when not given
     * @param k the run's {@code --k}, null when not given
     * @param matryoshkaWidths the run's {@code --matryoshka-widths}, null when not given
     */
    static SaeStart init(
            Path dir,
            UnaryOperator<SaeConfig.Builder> adjust,
            Architecture architecture,
            Integer k,
            List<Long> matryoshkaWidths)
            throws IOException {
        requireDirectory(dir);
        SaeConfig saved = SaeLens.config(dir);
        if (architecture == null || architecture == saved.architecture()) {
            return load(dir, adjust);
        }
        SaeConfig.Builder target = saved.toBuilder().architecture(architecture);
        if (architecture != Architecture.MATRYOSHKA_BATCHTOPK) {
            target.matryoshkaWidths(List.of());
        } else if (matryoshkaWidths != null) {
            target.matryoshkaWidths(matryoshkaWidths);
        } else if (saved.matryoshkaWidths().isEmpty()) {
            throw new TrainingException(
                    "SaeSpec.init(matryoshkaWidths) is required to start a " + architecture.cliName() + " run from the "
                            + saved.architecture().cliName() + " SAE in " + dir);
        }
        if (k != null) {
            target.k(k);
        } else if (architecture.usesK() && !saved.architecture().usesK()) {
            throw new TrainingException("SaeSpec.init(k) is required to start a " + architecture.cliName()
                    + " run from the " + saved.architecture().cliName() + " SAE in " + dir + " (it has no k)");
        }
        SaeConfig config;
        try {
            config = adjust.apply(target).build();
        } catch (IllegalArgumentException e) {
            throw new TrainingException(
                    "SaeSpec.init " + dir + " as " + architecture.cliName() + ": " + e.getMessage(), e);
        }
        try (Sae source = SaeLens.load(dir)) {
            return new SaeStart(WarmStart.of(source, config), ResumeState.fresh(), false);
        }
    }

    private static void requireDirectory(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new TrainingException(
                    "SaeSpec.init " + dir + ": " + (Files.exists(dir) ? "not a directory" : "no such directory"));
        }
    }
}
