package ai.batchtopk.reliability;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * What one child JVM did.
 *
 * @param exit its exit status (128 + the signal when a signal ended it)
 * @param out stdout
 * @param err stderr
 * @param timedOut it ran past its time limit and was killed
 * @param hsErrFiles the JVM's fatal-error logs it left
 * @param took wall time
 */
record ChildRun(int exit, String out, String err, boolean timedOut, List<Path> hsErrFiles, Duration took) {
    private static final String FATAL = "A fatal error has been detected by the Java Runtime Environment";

    /** Why this is a crash, or null when it is not one. */
    String crash() {
        if (timedOut) {
            return "hung: killed after " + took.toSeconds() + " s";
        }
        if (!hsErrFiles.isEmpty()) {
            return "JVM fatal error, " + hsErrFiles.getFirst().getFileName() + " (exit " + exit + ")";
        }
        if (exit >= 128) {
            return "killed by signal " + (exit - 128) + " (exit " + exit + ")";
        }
        if (out.contains(FATAL) || err.contains(FATAL)) {
            return "JVM fatal error (exit " + exit + ")";
        }
        return null;
    }

    /** A crash verdict, a clear or unclear error (see {@link ErrorReport}), or null for exit 0. */
    Verdict failure(String... mustName) {
        String crash = crash();
        if (crash != null) {
            return Verdict.crash(crash + ": " + ErrorReport.excerpt(err));
        }
        return exit == 0 ? null : ErrorReport.judge(exit, err, mustName);
    }

    @Override
    public String toString() {
        return "exit " + exit + (timedOut ? " (timed out)" : "") + " after " + took.toMillis() + " ms\nstdout: "
                + ErrorReport.excerpt(out) + "\nstderr: " + ErrorReport.excerpt(err);
    }
}
