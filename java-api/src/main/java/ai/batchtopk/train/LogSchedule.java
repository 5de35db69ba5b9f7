package ai.batchtopk.train;

/**
 * Which steps of a run write a metrics line: every step of a short run (so small experiments can be
 * plotted step by step), about 200 lines for a long one (so the log stays small), and always the last.
 *
 * @param steps steps in this run
 * @param every a line every this many steps (counted from the start of this run)
 */
record LogSchedule(long steps, long every) {
    static final long LINES = 200;

    LogSchedule {
        if (steps <= 0 || every <= 0) {
            throw new IllegalArgumentException("steps and every must be positive, got " + steps + ", " + every);
        }
    }

    /** The schedule for a run, with {@code logEvery} (null: not given) overriding the default. */
    static LogSchedule of(long steps, Long logEvery) {
        return new LogSchedule(steps, logEvery != null ? logEvery : Math.max(1, steps / LINES));
    }

    /** Whether step {@code i} (1-based, within this run) writes a line. */
    boolean logs(long i) {
        return i % every == 0 || i == steps;
    }
}
