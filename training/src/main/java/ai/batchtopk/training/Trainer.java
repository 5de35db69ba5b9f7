package ai.batchtopk.training;

import ai.batchtopk.Sae;
import ai.batchtopk.StepMetrics;
import ai.batchtopk.io.Tensor;
import java.io.IOException;
import java.util.Objects;

/**
 * The training loop: a batch, a step, and now and then a metrics line and a redraw of the progress
 * bar. Everything else (what the batches are, where the SAE came from, where it goes) is decided by
 * the caller, so this stays the few lines that run millions of times.
 */
final class Trainer {
    /**
     * What a run ends with.
     *
     * @param last the metrics of the last step
     * @param tokens tokens trained on since the SAE was created
     * @param tokensThisRun tokens trained on by this run
     * @param seconds how long this run took
     * @param position where the next batch would have started
     */
    record Result(StepMetrics last, long tokens, long tokensThisRun, double seconds, DataPosition position) {
        double tokensPerSecond() {
            return seconds > 0 ? tokensThisRun / seconds : 0;
        }
    }

    private final Sae sae;
    private final BatchSource batches;
    private final LogSchedule schedule;
    private final MetricsLog log;
    private final ProgressBar progress;

    /** @param progress null for none */
    Trainer(Sae sae, BatchSource batches, LogSchedule schedule, MetricsLog log, ProgressBar progress) {
        this.sae = Objects.requireNonNull(sae, "sae");
        this.batches = Objects.requireNonNull(batches, "batches");
        this.schedule = Objects.requireNonNull(schedule, "schedule");
        this.log = Objects.requireNonNull(log, "log");
        this.progress = progress;
    }

    /**
     * Runs {@code schedule.steps()} steps.
     *
     * @param tokensBefore tokens the SAE was trained on before this run (0 for a new one)
     * @throws CommandFailure if the loss stops being finite (after logging that step)
     */
    Result run(long tokensBefore) throws IOException {
        double lr = sae.config().lr();
        long start = System.nanoTime();
        long lastLogTime = start;
        long lastLogTokens = 0;
        long tokensThisRun = 0;
        StepMetrics m = null;
        for (long i = 1; i <= schedule.steps(); i++) {
            Tensor batch = batches.next();
            m = sae.trainStep(batch);
            tokensThisRun += batch.dim(0);
            boolean diverged = !Double.isFinite(m.loss());
            if (schedule.logs(i) || diverged) {
                long now = System.nanoTime();
                double window = (now - lastLogTime) / 1e9;
                log.write(m, tokensBefore + tokensThisRun, window > 0 ? (tokensThisRun - lastLogTokens) / window : 0, lr);
                lastLogTime = now;
                lastLogTokens = tokensThisRun;
            }
            if (progress != null) {
                progress.update(i, tokensThisRun, (System.nanoTime() - start) / 1e9, m);
            }
            if (diverged) {
                if (progress != null) {
                    progress.finish();
                }
                throw new CommandFailure("training diverged at step " + m.step() + ": the loss is " + m.loss()
                        + " (mse " + m.mse() + ", aux " + m.auxLoss() + "); try a smaller --lr");
            }
        }
        if (progress != null) {
            progress.finish();
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        return new Result(m, tokensBefore + tokensThisRun, tokensThisRun, seconds, batches.position());
    }
}
