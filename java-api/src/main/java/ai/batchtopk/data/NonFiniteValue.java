package ai.batchtopk.data;

import ai.batchtopk.io.Tensor;
import java.util.Optional;

/**
 * Where a batch first holds a NaN or an infinity. The native library refuses such a batch with the row
 * within the batch only; this finds the row again (a scan in Java, only once a batch was refused) so
 * the message can name the file and the row it came from.
 *
 * @param row the row within the batch
 * @param column the column within the row
 * @param value NaN or an infinity
 */
public record NonFiniteValue(long row, long column, double value) {
    /** The first non-finite value of a {@code rows x d} float batch, in row-major order. */
    public static Optional<NonFiniteValue> firstIn(Tensor batch) {
        long width = batch.dim(1);
        long count = batch.dim(0) * width;
        for (long i = 0; i < count; i++) {
            double v = TensorValues.get(batch, i);
            if (!Double.isFinite(v)) {
                return Optional.of(new NonFiniteValue(i / width, i % width, v));
            }
        }
        return Optional.empty();
    }

    /** "NaN in column 7". */
    public String describe() {
        return value + " in column " + column;
    }
}
