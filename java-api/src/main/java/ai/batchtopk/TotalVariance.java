package ai.batchtopk;

import ai.batchtopk.io.Tensor;
import java.util.Arrays;

/**
 * The total variance of rows added batch by batch: {@code sum_ij (x_ij - mean_j)^2}, the squared
 * deviations from the column means over all rows, which is what NMSE divides by.
 *
 * <p>Computed stably, in double precision. The one-pass {@code sum x^2 - (sum x)^2 / n} subtracts two
 * large, nearly equal numbers and keeps only rounding noise when the spread is small next to the
 * values (it gave -4e15 for NMSE on one row). Here every value is first shifted by the first row ever
 * added, so a constant column gives exactly zero; each batch's column means and squared deviations are
 * taken in two passes over its memory, where it lies (off-heap, nothing is copied); and batches are
 * merged with the pairwise update of Chan, Golub and LeVeque. Keeps three doubles per column.
 *
 * <p>A NaN or an infinity in the data makes {@link #value()} NaN or infinite, and so do values whose
 * squares overflow a double (around 1e154). Not thread-safe.
 */
public final class TotalVariance {
    private final int width;
    private final double[] shift;
    private final double[] mean;
    private final double[] squaredDeviations;
    private final double[] batchMean;
    private final double[] batchSquaredDeviations;
    private long rows;
    private double largestMagnitude;

    /** Empty, for rows of {@code width} columns. */
    public TotalVariance(long width) {
        if (width <= 0 || width > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("width must be in 1.." + Integer.MAX_VALUE + ", got " + width);
        }
        this.width = (int) width;
        this.shift = new double[this.width];
        this.mean = new double[this.width];
        this.squaredDeviations = new double[this.width];
        this.batchMean = new double[this.width];
        this.batchSquaredDeviations = new double[this.width];
    }

    /** Adds a {@code rows x width} batch of F32, F64, F16 or BF16 values. */
    public void add(Tensor batch) {
        if (batch.rank() != 2 || batch.dim(1) != width) {
            throw new IllegalArgumentException(
                    "expected a [rows, " + width + "] batch, got " + Arrays.toString(batch.shape()));
        }
        long n = batch.dim(0);
        if (n == 0) {
            return;
        }
        if (rows == 0) {
            for (int j = 0; j < width; j++) {
                shift[j] = value(batch, j);
            }
        }
        Arrays.fill(batchMean, 0);
        Arrays.fill(batchSquaredDeviations, 0);
        for (long r = 0; r < n; r++) {
            long base = r * width;
            for (int j = 0; j < width; j++) {
                double x = value(batch, base + j);
                largestMagnitude = Math.max(largestMagnitude, Math.abs(x));
                batchMean[j] += x - shift[j];
            }
        }
        for (int j = 0; j < width; j++) {
            batchMean[j] /= n;
        }
        for (long r = 0; r < n; r++) {
            long base = r * width;
            for (int j = 0; j < width; j++) {
                double deviation = value(batch, base + j) - shift[j] - batchMean[j];
                batchSquaredDeviations[j] += deviation * deviation;
            }
        }
        long total = rows + n;
        for (int j = 0; j < width; j++) {
            if (rows == 0) {
                mean[j] = batchMean[j];
                squaredDeviations[j] = batchSquaredDeviations[j];
                continue;
            }
            double delta = batchMean[j] - mean[j];
            mean[j] += delta * ((double) n / total);
            squaredDeviations[j] += batchSquaredDeviations[j] + delta * delta * ((double) rows * n / total);
        }
        rows = total;
    }

    /** Rows added so far. */
    public long rows() {
        return rows;
    }

    /** {@code sum_ij (x_ij - mean_j)^2} over the rows added; 0 when every column is constant (or one row). */
    public double value() {
        double sum = 0;
        for (double s : squaredDeviations) {
            sum += s;
        }
        return sum;
    }

    /** The largest absolute value added (NaN once a NaN was). */
    public double largestMagnitude() {
        return largestMagnitude;
    }

    /** Forgets every row. */
    public void reset() {
        rows = 0;
        largestMagnitude = 0;
        Arrays.fill(mean, 0);
        Arrays.fill(squaredDeviations, 0);
    }

    private static double value(Tensor t, long index) {
        return switch (t.dtype()) {
            case F32 -> t.data().getAtIndex(Tensor.F32_LE, index);
            case F64 -> t.data().getAtIndex(Tensor.F64_LE, index);
            case F16 -> Float.float16ToFloat(t.data().getAtIndex(Tensor.I16_LE, index));
            // bfloat16 is the upper half of a binary32.
            case BF16 -> Float.intBitsToFloat((t.data().getAtIndex(Tensor.I16_LE, index) & 0xFFFF) << 16);
            default -> throw new IllegalArgumentException("not a float tensor: " + t);
        };
    }
}
