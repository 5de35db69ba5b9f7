package ai.batchtopk.reliability;

import java.util.Comparator;
import java.util.List;

/** The outcome of one case (or one check of a case) and why. */
record Verdict(Outcome outcome, String detail) {
    static Verdict clearError(String detail) {
        return new Verdict(Outcome.CLEAR_ERROR, detail);
    }

    static Verdict correct(String detail) {
        return new Verdict(Outcome.CORRECT, detail);
    }

    static Verdict crash(String detail) {
        return new Verdict(Outcome.CRASH, detail);
    }

    static Verdict silentWrong(String detail) {
        return new Verdict(Outcome.SILENT_WRONG, detail);
    }

    static Verdict lost(String detail) {
        return new Verdict(Outcome.LOST_OUTPUT, detail);
    }

    static Verdict unclear(String detail) {
        return new Verdict(Outcome.UNCLEAR_ERROR, detail);
    }

    boolean passes() {
        return outcome.passes;
    }

    /**
     * The verdict of a case made of several checks: the first failing one in order of severity
     * (crash, lost output, silent wrong, unclear error); if all pass, a clear error if any check was one.
     */
    static Verdict of(List<Verdict> checks) {
        List<Outcome> severity = List.of(
                Outcome.CRASH,
                Outcome.LOST_OUTPUT,
                Outcome.SILENT_WRONG,
                Outcome.UNCLEAR_ERROR,
                Outcome.CLEAR_ERROR,
                Outcome.CORRECT);
        Verdict decisive = checks.stream()
                .min(Comparator.comparingInt(v -> severity.indexOf(v.outcome())))
                .orElseThrow();
        if (!decisive.passes()) {
            return decisive;
        }
        return new Verdict(
                decisive.outcome(),
                String.join("; ", checks.stream().map(Verdict::detail).toList()));
    }

    @Override
    public String toString() {
        return outcome + ": " + detail;
    }
}
