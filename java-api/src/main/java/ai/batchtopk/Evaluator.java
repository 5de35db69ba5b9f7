package ai.batchtopk;

import ai.batchtopk.bindings.btk_eval_sums;
import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Objects;

/**
 * Evaluates an SAE over many batches with the inference rule, in the original (un-normalised) space.
 *
 * <p>Native code adds each batch to running sums (tokens, active codes, squared error, squared sum,
 * per-column sums, per-latent fire counts); the result is computed from those sums at the end, so the
 * batches may be of any size and nothing per-token is kept. The total variance is taken around the
 * mean over all tokens seen, {@code sum x^2 - sum_j (sum_b x_bj)^2 / tokens}, which is why the column
 * sums are kept in double precision.
 *
 * <p>Holds off-heap sums; close it (or let the arena go with it). Not thread-safe.
 */
public final class Evaluator implements AutoCloseable {
    private final Sae sae;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment sums;
    private final MemorySegment columnSums;
    private final MemorySegment fireCounts;
    private boolean closed;

    /** An evaluator with empty sums for this SAE (which must outlive it). */
    public Evaluator(Sae sae) {
        this.sae = Objects.requireNonNull(sae, "sae");
        this.sums = btk_eval_sums.allocate(arena);
        this.columnSums = arena.allocate(ValueLayout.JAVA_DOUBLE, sae.dIn());
        this.fireCounts = arena.allocate(ValueLayout.JAVA_LONG, sae.dSae());
    }

    /** Adds one {@code rows x d_in} batch (F32, F64, F16 or BF16) to the sums. */
    public void add(Tensor batch) {
        ensureOpen();
        sae.evaluate(batch, sums, columnSums, fireCounts);
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
     */
    public EvalResult result() {
        ensureOpen();
        long tokens = btk_eval_sums.tokens(sums);
        if (tokens == 0) {
            throw new IllegalStateException("nothing to evaluate: add at least one batch first");
        }
        double squaredError = btk_eval_sums.squared_error(sums);
        double squaredSum = btk_eval_sums.squared_sum(sums);
        double meanSquares = 0;
        long d = columnSums.byteSize() / Double.BYTES;
        for (long j = 0; j < d; j++) {
            double s = columnSums.getAtIndex(ValueLayout.JAVA_DOUBLE, j);
            meanSquares += s * s;
        }
        double totalVariance = squaredSum - meanSquares / tokens;
        double nmse = squaredError / totalVariance;
        long dead = 0;
        long latents = fireCounts.byteSize() / Long.BYTES;
        for (long f = 0; f < latents; f++) {
            if (fireCounts.getAtIndex(ValueLayout.JAVA_LONG, f) == 0) {
                dead++;
            }
        }
        double l0 = (double) btk_eval_sums.active(sums) / tokens;
        return new EvalResult(tokens, nmse, 1 - nmse, l0, (double) dead / latents);
    }

    /** Forgets everything added, to evaluate again. */
    public void reset() {
        ensureOpen();
        sums.fill((byte) 0);
        columnSums.fill((byte) 0);
        fireCounts.fill((byte) 0);
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
