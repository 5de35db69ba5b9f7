package ai.batchtopk.training;

import ai.batchtopk.EvalResult;
import ai.batchtopk.Evaluator;
import ai.batchtopk.Sae;
import ai.batchtopk.io.Tensor;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * Held-out activations ({@code --eval-data}) and how many of their rows to evaluate on: the first
 * {@code tokens} rows, in file order, the same rows each time, read where they lie (views of the
 * mappings, in chunks that never span two files). One {@link Evaluator} per SAE, reset each time.
 */
final class EvalSet implements AutoCloseable {
    static final long CHUNK = 4096;

    private final ActivationData data;
    private final long tokens;
    private final Map<Sae, Evaluator> evaluators = new IdentityHashMap<>();

    EvalSet(ActivationData data, long tokens) {
        this.data = data;
        this.tokens = Math.min(tokens, data.rows());
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
            long bytes = data.rowBytes();
            evaluator.add(new Tensor(data.dtype(), new long[] {run, data.width()},
                    part.rows().data().asSlice(inPart * bytes, run * bytes)));
            row += run;
        }
        return evaluator.result();
    }

    @Override
    public void close() {
        evaluators.values().forEach(Evaluator::close);
        evaluators.clear();
    }
}
