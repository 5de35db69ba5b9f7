package ai.batchtopk.reliability;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Judges what a failed command printed against the project's rule: exit 1 (2 for a usage error),
 * exactly one line {@code error: ...} on stderr that names the problem, and no stack trace.
 */
final class ErrorReport {
    private ErrorReport() {}

    private static final Pattern STACK_FRAME = Pattern.compile("^\\s+at [\\w$.<>/]+\\(.*\\)\\s*$", Pattern.MULTILINE);
    private static final Pattern UNCAUGHT = Pattern.compile("^(Exception in thread|Caused by: )", Pattern.MULTILINE);

    /**
     * A clear error if the exit code and stderr follow the rule and the error line holds every one of
     * {@code mustName} (a file name, an option, a word for the problem); an unclear one otherwise.
     */
    static Verdict judge(int exit, String stderr, String... mustName) {
        List<String> errorLines =
                stderr.lines().filter(l -> l.startsWith("error: ")).toList();
        if (exit == 0) {
            throw new IllegalArgumentException("not a failure: exit 0");
        }
        if (exit != 1 && exit != 2) {
            return Verdict.unclear("exit " + exit + " (expected 1, or 2 for usage): " + excerpt(stderr));
        }
        if (STACK_FRAME.matcher(stderr).find() || UNCAUGHT.matcher(stderr).find()) {
            return Verdict.unclear("a stack trace on stderr: " + excerpt(stderr));
        }
        if (errorLines.size() != 1) {
            return Verdict.unclear(errorLines.size() + " 'error: ' lines on stderr: " + excerpt(stderr));
        }
        String line = errorLines.getFirst();
        List<String> missing = new ArrayList<>();
        for (String word : mustName) {
            if (!line.toLowerCase().contains(word.toLowerCase())) {
                missing.add(word);
            }
        }
        if (!missing.isEmpty()) {
            return Verdict.unclear("the error does not name " + String.join(", ", missing) + ": " + excerpt(line));
        }
        return Verdict.clearError(excerpt(line));
    }

    static String excerpt(String text) {
        String t = text.strip().replaceAll("\\s*\\R\\s*", " | ");
        return t.length() > 300 ? t.substring(0, 297) + "..." : t;
    }
}
