package ai.batchtopk.training;

import ai.batchtopk.EvalResult;
import ai.batchtopk.Evaluator;
import ai.batchtopk.NativeMemory;
import ai.batchtopk.Sae;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * Held-out activations ({@code --eval-data}) and how many of their rows to evaluate on: the first
 * {@code tokens} rows, in file order, the same rows each time, in chunks that never span two files,
 * each copied off-heap into one staging buffer first (so that a file truncated meanwhile is an error
 * naming it, not a crash in native code; the copy costs little next to the encoder, see BENCHMARKS.md).
 * One {@link Evaluator} per SAE, reset each time.
 */
final class EvalSet implements AutoCloseable {
    static final long CHUNK = 4096;

    private final ActivationData data;
    private final long tokens;
    private final Map<Sae, Evaluator> evaluators = new IdentityHashMap<>();
    private final Arena arena = Arena.ofShared();
    private final MemorySegment staging;

    EvalSet(ActivationData data, long tokens) {
        this.data = data;
        this.tokens = Math.min(tokens, data.rows());
        this.staging = arena.allocate(Math.min(CHUNK, this.tokens) * data.rowBytes(), 64);
    }

    long tokens() {
        return tokens;
    }

    EvalResult evaluate(Sae sae) {
        Evaluator evaluator = evaluators.computeIfAbsent(sae, Evaluator::new);
        evaluator.reset();
        long row = 0;
        while (row < tokens) {
            ActivationData.Part part = data.partOf(row);
            long inPart = row - part.firstRow();
            long run = Math.min(Math.min(CHUNK, tokens - row), part.rowCount() - inPart);
            evaluator.add(part.copyRows(inPart, run, staging));
            row += run;
        }
        // An evaluation's batches are larger than the step's: give back the heap holes they leave in the
        // C library's allocator, or resident memory creeps up evaluation after evaluation (NativeMemory).
        NativeMemory.releaseFreed();
        return evaluator.result();
    }

    @Override
    public void close() {
        evaluators.values().forEach(Evaluator::close);
        evaluators.clear();
        arena.close();
    }
}
