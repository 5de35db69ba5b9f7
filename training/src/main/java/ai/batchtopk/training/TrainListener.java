package ai.batchtopk.training;

import ai.batchtopk.train.Progress;
import ai.batchtopk.train.RunListener;
import java.io.PrintWriter;

/** What {@code train} shows as the run goes: warnings on stderr, and on a terminal a progress bar. */
final class TrainListener implements RunListener {
    private final PrintWriter stderr;
    private final boolean terminal;
    private ProgressBar bar;

    TrainListener(PrintWriter stderr, boolean terminal) {
        this.stderr = stderr;
        this.terminal = terminal;
    }

    @Override
    public void onStep(Progress p) {
        if (!terminal) {
            return;
        }
        if (bar == null) {
            bar = new ProgressBar(stderr, p.stepsLeftAtStart());
        }
        bar.update(p.stepsThisRun(), p.tokensThisRun(), p.seconds(), p.metrics());
    }

    @Override
    public void onWarning(String message) {
        stderr.println("warning: " + FlagNames.of(message));
    }

    @Override
    public void onEnd() {
        if (bar != null) {
            bar.finish();
        }
    }
}
