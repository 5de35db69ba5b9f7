package ai.batchtopk.training;

import ai.batchtopk.Checkpoint;
import ai.batchtopk.Sae;
import ai.batchtopk.SaeConfig;
import ai.batchtopk.SaeLens;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.UnaryOperator;

/**
 * The SAE a run starts from, and what it had been through: a new one, an SAELens directory (trained
 * parameters, fresh optimizer), or one of our checkpoints (everything restored: Adam moments, step,
 * dead-latent counters, theta, tokens and data position, so the run goes on as if never stopped).
 *
 * @param sae owned by the caller
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
        if (!Files.isDirectory(dir)) {
            throw new CommandFailure("--init " + dir + ": " + (Files.exists(dir) ? "not a directory" : "no such directory"));
        }
        if (Files.exists(dir.resolve(Checkpoint.STATE_FILE))) {
            Checkpoint.Loaded loaded = Checkpoint.resume(dir, adjust);
            return new SaeStart(loaded.sae(), ResumeState.fromExtra(loaded.extra()), true);
        }
        return new SaeStart(SaeLens.load(dir, adjust), ResumeState.fresh(), false);
    }
}
