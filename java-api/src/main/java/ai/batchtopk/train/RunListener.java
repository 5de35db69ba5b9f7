package ai.batchtopk.train;

import ai.batchtopk.EvalResult;

/**
 * What a {@link TrainingRun} tells as it goes. Called on the training thread: keep it quick (a progress
 * bar, a line of log), since the next step waits for it.
 */
@FunctionalInterface
public interface RunListener {
    /** Follows nothing (warnings still go to stderr). */
    RunListener NONE = progress -> {};

    /** After every step. */
    void onStep(Progress progress);

    /** After each evaluation on the held-out data, for each SAE of the run. */
    default void onEvaluation(String sae, long step, EvalResult result) {}

    /** Something the caller should know that does not stop the run (changed data on resume, files skipped). */
    default void onWarning(String message) {
        System.err.println("warning: " + message);
    }

    /** Once, when the run stops training (done or failed). */
    default void onEnd() {}
}
