package ai.batchtopk.data;

/**
 * Where the next batch starts: the pass over the data ({@code epoch}, from 0) and the index of the next
 * row within that pass. With shuffling, the index is into the epoch's permutation.
 */
public record DataPosition(long epoch, long row) {
    public static final DataPosition START = new DataPosition(0, 0);

    public DataPosition {
        if (epoch < 0 || row < 0) {
            throw new IllegalArgumentException("epoch and row must not be negative, got " + epoch + ", " + row);
        }
    }
}
