package ai.batchtopk.data;

import static org.assertj.core.api.Assertions.assertThat;

import ai.batchtopk.io.DType;
import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;

/**
 * Test data whose rows say where they came from: row r of a block holds first + r in every column. Public
 * for the training module's tests (this module's test-jar).
 */
public final class NumberedRows {
    public static final int D = 3;

    private NumberedRows() {}

    public static Tensor numbered(int first, int rows, Arena arena) {
        Tensor t = Tensor.allocate(DType.F32, new long[] {rows, D}, arena);
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < D; j++) {
                t.data().setAtIndex(Tensor.F32_LE, (long) r * D + j, first + r);
            }
        }
        return t;
    }

    /** The row numbers of a batch, checking each row is one whole row. */
    public static List<Integer> rowsOf(Tensor batch) {
        List<Integer> rows = new ArrayList<>();
        for (long r = 0; r < batch.dim(0); r++) {
            float v = batch.data().getAtIndex(Tensor.F32_LE, r * D);
            for (int j = 1; j < D; j++) {
                assertThat(batch.data().getAtIndex(Tensor.F32_LE, r * D + j)).isEqualTo(v);
            }
            rows.add((int) v);
        }
        return rows;
    }
}
