package ai.batchtopk.train;

import ai.batchtopk.StepMetrics;

/**
 * Where a run stands after a step.
 *
 * @param step the step just taken, counted over the whole run (resumed parts included)
 * @param steps the run's total
 * @param stepsThisRun steps taken by this process
 * @param stepsLeftAtStart steps this process had to take when it started
 * @param tokensThisRun tokens trained on by this process (per SAE)
 * @param seconds time since this process started training
 * @param metrics the step's metrics (of the first SAE of a sweep)
 */
public record Progress(
        long step,
        long steps,
        long stepsThisRun,
        long stepsLeftAtStart,
        long tokensThisRun,
        double seconds,
        StepMetrics metrics) {
    /** Tokens per second since this process started. */
    public double tokensPerSecond() {
        return seconds > 0 ? tokensThisRun / seconds : 0;
    }
}
