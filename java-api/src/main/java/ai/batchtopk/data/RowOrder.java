package ai.batchtopk.data;

/**
 * How a run visits the rows of its files: in file order, or in a seeded random order that is new each
 * epoch, over all rows ({@code window == 0}) or within windows of {@code window} consecutive rows
 * ({@link ShuffledBatches}).
 */
public record RowOrder(boolean shuffled, long window) {
    public static final RowOrder SEQUENTIAL = new RowOrder(false, 0);

    /** One permutation of all rows per epoch. */
    public static final RowOrder SHUFFLED = new RowOrder(true, 0);

    public RowOrder {
        if (window < 0) {
            throw new IllegalArgumentException(
                    "a shuffle window must not be negative (0: shuffle over all rows), got " + window);
        }
        if (!shuffled && window != 0) {
            throw new IllegalArgumentException("a shuffle window needs a shuffled order");
        }
    }

    /** Shuffled within windows of {@code rows} consecutive rows, the windows in random order. */
    public static RowOrder shuffledInWindows(long rows) {
        return new RowOrder(true, rows);
    }

    /** The name checkpoints keep: a saved position only means something in the same order. */
    public String label() {
        return !shuffled ? "sequential" : window == 0 ? "shuffled" : "shuffled-window-" + window;
    }
}
