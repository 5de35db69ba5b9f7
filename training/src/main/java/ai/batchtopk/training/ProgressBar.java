package ai.batchtopk.training;

import ai.batchtopk.StepMetrics;
import java.io.Console;
import java.io.PrintWriter;
import java.util.Locale;

/**
 * One line on stderr, redrawn in place with {@code \r}: step/total, tokens/s, loss, l0, dead, ETA.
 * Only for a person at a terminal; a log file or a pipe would fill up with redraws.
 */
final class ProgressBar {
    private static final long REDRAW_NANOS = 100_000_000L;

    private final PrintWriter out;
    private final long total;
    private long lastDraw;
    private int lastWidth;

    ProgressBar(PrintWriter out, long total) {
        this.out = out;
        this.total = total;
    }

    /** Whether this JVM talks to a terminal (JDK 22+: a console exists even when redirected). */
    static boolean terminal() {
        Console console = System.console();
        return console != null && console.isTerminal();
    }

    /**
     * Redraws the line, at most ten times a second, and always for the last step.
     *
     * @param done steps done in this run
     * @param tokensThisRun tokens trained on in this run
     * @param seconds time since this run started
     */
    void update(long done, long tokensThisRun, double seconds, StepMetrics m) {
        long now = System.nanoTime();
        if (done < total && now - lastDraw < REDRAW_NANOS) {
            return;
        }
        lastDraw = now;
        double rate = seconds > 0 ? tokensThisRun / seconds : 0;
        double eta = done > 0 ? seconds / done * (total - done) : 0;
        String line = String.format(
                Locale.ROOT,
                "step %d/%d  %s tok/s  loss %.4g  l0 %.1f  dead %d  ETA %s",
                done,
                total,
                compact(rate),
                m.loss(),
                m.l0(),
                m.dead(),
                clock(eta));
        // Pad with spaces so a shorter line wipes out the end of a longer one.
        out.print("\r" + line + " ".repeat(Math.max(0, lastWidth - line.length())));
        out.flush();
        lastWidth = line.length();
    }

    /** Ends the line, so what follows starts on a fresh one. */
    void finish() {
        if (lastWidth > 0) {
            out.println();
            out.flush();
        }
    }

    /** 1234567 as "1.23M". */
    static String compact(double value) {
        if (value >= 1e9) return String.format(Locale.ROOT, "%.2fG", value / 1e9);
        if (value >= 1e6) return String.format(Locale.ROOT, "%.2fM", value / 1e6);
        if (value >= 1e3) return String.format(Locale.ROOT, "%.1fk", value / 1e3);
        return String.format(Locale.ROOT, "%.0f", value);
    }

    /** Seconds as h:mm:ss. */
    static String clock(double seconds) {
        long s = Math.round(seconds);
        return String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
    }
}
