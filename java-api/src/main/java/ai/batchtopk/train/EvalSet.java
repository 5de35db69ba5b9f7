package ai.batchtopk.train;

import ai.batchtopk.BatchTopKException;
import ai.batchtopk.EvalResult;
import ai.batchtopk.Evaluator;
import ai.batchtopk.NativeMemory;
import ai.batchtopk.Sae;
import ai.batchtopk.Status;
import ai.batchtopk.TotalVariance;
import ai.batchtopk.data.ActivationData;
import ai.batchtopk.data.NonFiniteValue;
import ai.batchtopk.data.RowOrigin;
import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.function.ObjLongConsumer;

/**
 * Held-out activations ({@code --eval-data}) and how many of their rows to evaluate on: the first
 * {@code tokens} rows, in file order, the same rows each time, in chunks that never span two files,
 * each copied off-heap into one staging buffer first (so that a file truncated meanwhile is an error
 * naming it, not a crash in native code; the copy costs little next to the encoder, see BENCHMARKS.md).
 * One {@link Evaluator} per SAE, reset each time.
 *
 * <p>The rows are checked once, when the set is made, so that a run does not fail at its first
 * evaluation, hours in: every value finite (else the file and row are named), and some variance (NMSE
 * divides by it).
 */
public final class EvalSet implements AutoCloseable {
    static final long CHUNK = 4096;

    private final ActivationData data;
    private final long tokens;
    private final Map<Sae, Evaluator> evaluators = new IdentityHashMap<>();
    private final Arena arena = Arena.ofShared();
    private final MemorySegment staging;

    /** @throws TrainingException if the rows hold a NaN or an infinity, or have no (finite) variance */
    public EvalSet(ActivationData data, long tokens) {
        this.data = data;
        this.tokens = Math.min(tokens, data.rows());
        this.staging = arena.allocate(Math.min(CHUNK, this.tokens) * data.rowBytes(), 64);
        check();
    }

    public long tokens() {
        return tokens;
    }

    public EvalResult evaluate(Sae sae) {
        Evaluator evaluator = evaluators.computeIfAbsent(sae, Evaluator::new);
        evaluator.reset();
        forEachChunk((chunk, firstRow) -> {
            try {
                evaluator.add(chunk);
            } catch (BatchTopKException e) {
                throw e.status() == Status.NON_FINITE ? nonFinite(chunk, firstRow, e) : e;
            }
        });
        // An evaluation's batches are larger than the step's: give back the heap holes they leave in the
        // C library's allocator, or resident memory creeps up evaluation after evaluation (NativeMemory).
        NativeMemory.releaseFreed();
        return evaluator.result();
    }

    private void check() {
        TotalVariance variance = new TotalVariance(data.width());
        forEachChunk((chunk, firstRow) -> {
            RuntimeException bad = nonFinite(chunk, firstRow, null);
            if (bad != null) {
                throw bad;
            }
            variance.add(chunk);
        });
        String rows = "the first " + tokens + " rows of RunSpec.evalData (" + data.describe() + ")";
        if (!Double.isFinite(variance.value())) {
            throw new TrainingException(rows + " have a variance that is not finite (largest |x| = "
                    + variance.largestMagnitude() + "): their values are too large to square in double precision");
        }
        if (variance.value() == 0) {
            throw new TrainingException(
                    rows + " have no variance (" + (tokens == 1 ? "a single row" : "every column is constant")
                            + "): NMSE, the squared error over the variance, is undefined; evaluate on varied rows"
                            + (tokens < data.rows() ? " or more of them (RunSpec.evalTokens)" : ""));
        }
    }

    /**
     * The failure naming the file and row of the chunk's first NaN or infinity; null if it has none
     * (and {@code cause} is null), or {@code cause} itself.
     */
    private RuntimeException nonFinite(Tensor chunk, long firstRow, RuntimeException cause) {
        return NonFiniteValue.firstIn(chunk)
                .<RuntimeException>map(bad -> new TrainingException(
                        "RunSpec.evalData: "
                                + RowOrigin.of(data, firstRow + bad.row()) + " holds " + bad.describe()
                                + "; evaluation needs finite activations",
                        cause))
                .orElse(cause);
    }

    /** The rows to evaluate on, copied into the staging buffer, with the index of each chunk's first row. */
    private void forEachChunk(ObjLongConsumer<Tensor> action) {
        long row = 0;
        while (row < tokens) {
            ActivationData.Part part = data.partOf(row);
            long inPart = row - part.firstRow();
            long run = Math.min(Math.min(CHUNK, tokens - row), part.rowCount() - inPart);
            action.accept(part.copyRows(inPart, run, staging), row);
            row += run;
        }
    }

    @Override
    public void close() {
        evaluators.values().forEach(Evaluator::close);
        evaluators.clear();
        arena.close();
    }
}
