package ai.batchtopk.reliability;

/**
 * How one adversarial case ended. The first two pass; the rest fail the case (and the build).
 */
enum Outcome {
    /** Non-zero exit (1, or 2 for usage), one {@code error: ...} line naming the problem, no stack trace. */
    CLEAR_ERROR("clear errors", true),
    /** Success, with the right result. */
    CORRECT("correct", true),
    /** A signal exit, an hs_err file, a JVM abort, or a hang that had to be killed. */
    CRASH("crashes", false),
    /** Exit 0 with a wrong result, or a malformed input accepted. */
    SILENT_WRONG("silent wrong results", false),
    /** Something the user saved destroyed or left corrupt. */
    LOST_OUTPUT("lost outputs", false),
    /**
     * A failure that is not a clear error: a stack trace, no {@code error:} line, a message that does
     * not name the file or the problem, an unexpected exception type, or a valid input refused.
     */
    UNCLEAR_ERROR("unclear errors", false);

    final String plural;
    final boolean passes;

    Outcome(String plural, boolean passes) {
        this.plural = plural;
        this.passes = passes;
    }
}
