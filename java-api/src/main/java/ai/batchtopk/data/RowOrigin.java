package ai.batchtopk.data;

/**
 * Where a row of a batch came from, for messages: "row 1234 (0-based) of /data/a.npy". A batch is known by the
 * {@link DataPosition} it started at; the row is found again by going the same way through the data.
 */
@FunctionalInterface
public interface RowOrigin {
    /** The source of the row {@code k} rows after {@code start} (row {@code k} of the batch that starts there). */
    public String describe(DataPosition start, long k);

    /** Rows in file order ({@link SequentialBatches}). */
    public static RowOrigin sequential(ActivationData data) {
        return (start, k) -> of(data, (start.row() + k) % data.rows());
    }

    /** Rows in a seeded order ({@link ShuffledBatches}), with the stream's seed and shuffle window. */
    public static RowOrigin shuffled(ActivationData data, long seed, long window) {
        return (start, k) -> of(data, ShuffledBatches.rowAfter(data, seed, window, start, k));
    }

    /** "row 1234 (0-based) of /data/a.npy" for row {@code row} of the whole data. */
    public static String of(ActivationData data, long row) {
        ActivationData.Part part = data.partOf(row);
        return "row " + (row - part.firstRow()) + " (0-based) of " + part.path();
    }
}
