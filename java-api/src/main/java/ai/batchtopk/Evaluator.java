package ai.batchtopk;

import ai.batchtopk.bindings.btk_eval_sums;
import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Evaluates an SAE over many batches with the inference rule, in the original (un-normalised) space.
 *
 * <p>Native code adds each batch to running sums (tokens, active codes, squared error, that of each
 * Matryoshka prefix, per-latent fire counts); the result is computed from those sums at the end, so the batches may be of any size and
 * nothing per-token is kept. The total variance, around the mean over all tokens seen, is accumulated
 * stably in Java from the batch's memory ({@link TotalVariance}): the native one-pass squared and column
 * sums lose every digit when the spread is small next to the values.
 *
 * <p>Data without variance (one row, constant columns) has no NMSE, and neither has data whose squares
 * overflow: {@link #result()} refuses both rather than return a meaningless number.
 *
 * <p>Holds off-heap sums; close it (or let the arena go with it). Not thread-safe.
 */
public final class Evaluator implements AutoCloseable {
    private final Sae sae;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment sums;
    /** Native code fills it (with squared_sum); the variance comes from {@link #variance} instead. */
    private final MemorySegment columnSums;

    private final MemorySegment fireCounts;
    private final TotalVariance variance;
    private boolean closed;

    /** An evaluator with empty sums for this SAE (which must outlive it). */
    public Evaluator(Sae sae) {
        this.sae = Objects.requireNonNull(sae, "sae");
        this.sums = btk_eval_sums.allocate(arena);
        this.columnSums = arena.allocate(ValueLayout.JAVA_DOUBLE, sae.dIn());
        this.fireCounts = arena.allocate(ValueLayout.JAVA_LONG, sae.dSae());
        this.variance = new TotalVariance(sae.dIn());
    }

    /**
     * Adds one {@code rows x d_in} batch (F32, F64, F16 or BF16) to the sums.
     *
     * @throws BatchTopKException {@link Status#NON_FINITE} if the batch holds a NaN or an infinity (the sums
     *     are then unchanged)
     */
    public void add(Tensor batch) {
        ensureOpen();
        // Native first: it refuses a non-finite batch before adding anything, so both sums stay in step.
        sae.evaluate(batch, sums, columnSums, fireCounts);
        variance.add(batch);
    }

    /** Tokens added so far. */
    public long tokens() {
        ensureOpen();
        return btk_eval_sums.tokens(sums);
    }

    /** How often each latent fired, over all tokens added (a copy). */
    public long[] fireCounts() {
        ensureOpen();
        return fireCounts.toArray(ValueLayout.JAVA_LONG);
    }

    /**
     * The metrics over everything added so far.
     *
     * @throws IllegalStateException if nothing was added
     * @throws BatchTopKException {@link Status#INVALID_ARGUMENT} if the data has no variance (NMSE divides
     *     by it), {@link Status#NON_FINITE} if its variance or the squared error is not finite (values too
     *     large to square in double precision, or to hold in the SAE's float32)
     */
    public EvalResult result() {
        ensureOpen();
        long tokens = btk_eval_sums.tokens(sums);
        if (tokens == 0) {
            throw new IllegalStateException("nothing to evaluate: add at least one batch first");
        }
        double totalVariance = variance.value();
        double largest = variance.largestMagnitude();
        if (!Double.isFinite(totalVariance)) {
            throw new BatchTopKException(
                    Status.NON_FINITE,
                    "Evaluator.result",
                    "the variance of the data is not finite" + " (largest |x| = " + largest
                            + "): its values are too large to square in double precision");
        }
        if (totalVariance == 0) {
            throw new BatchTopKException(
                    Status.INVALID_ARGUMENT,
                    "Evaluator.result",
                    "the data has no variance ("
                            + (tokens == 1 ? "a single row" : "every column is constant over its " + tokens + " rows")
                            + "): NMSE, the squared error over the variance, is undefined; evaluate on varied rows");
        }
        double squaredError = btk_eval_sums.squared_error(sums);
        if (!Double.isFinite(squaredError)) {
            throw new BatchTopKException(
                    Status.NON_FINITE,
                    "Evaluator.result",
                    "the squared reconstruction error is "
                            + squaredError + " (largest |x| = " + largest
                            + (sae.config().doublePrecision()
                                    ? ""
                                    : "; the SAE computes in float32, which ends near 3.4e38")
                            + ")");
        }
        double nmse = squaredError / totalVariance;
        long dead = 0;
        long latents = fireCounts.byteSize() / Long.BYTES;
        for (long f = 0; f < latents; f++) {
            if (fireCounts.getAtIndex(ValueLayout.JAVA_LONG, f) == 0) {
                dead++;
            }
        }
        double l0 = (double) btk_eval_sums.active(sums) / tokens;
        List<Double> prefixNmse = new ArrayList<>();
        for (int i = 0; i < sae.config().matryoshkaWidths().size(); i++) {
            prefixNmse.add(btk_eval_sums.prefix_squared_error(sums, i) / totalVariance);
        }
        return new EvalResult(tokens, nmse, 1 - nmse, l0, (double) dead / latents, prefixNmse);
    }

    /** Forgets everything added, to evaluate again. */
    public void reset() {
        ensureOpen();
        sums.fill((byte) 0);
        columnSums.fill((byte) 0);
        fireCounts.fill((byte) 0);
        variance.reset();
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            arena.close();
        }
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("Evaluator is closed");
        }
    }
}
