package ai.batchtopk.data;

import static ai.batchtopk.data.NumberedRows.numbered;
import static ai.batchtopk.data.NumberedRows.rowsOf;
import static org.assertj.core.api.Assertions.assertThat;

import ai.batchtopk.io.Npy;
import ai.batchtopk.io.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Batches from two files whose row r holds the value r in each of its 3 columns. */
class BatchSourcesTest {
    @TempDir
    Path tmp;

    private ActivationData open(Arena arena) throws IOException {
        Path a = tmp.resolve("a.npy");
        Path b = tmp.resolve("b.npy");
        Npy.write(a, numbered(0, 7, arena));
        Npy.write(b, numbered(7, 3, arena));
        return ActivationData.open(List.of(a, b), arena);
    }

    @Test
    void concatenatesFiles() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            ActivationData data = open(arena);
            assertThat(data.rows()).isEqualTo(10);
            assertThat(data.width()).isEqualTo(NumberedRows.D);
            assertThat(data.partOf(6).firstRow()).isZero();
            assertThat(data.partOf(7).firstRow()).isEqualTo(7);
            assertThat(data.partOf(9).firstRow()).isEqualTo(7);
        }
    }

    @Test
    void sequentialBatchesAreViewsInsideAFileAndCopiesAcrossFilesAndTheEnd() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            ActivationData data = open(arena);
            SequentialBatches batches = new SequentialBatches(data, 4, DataPosition.START, arena);
            Tensor first = batches.next();
            assertThat(rowsOf(first)).containsExactly(0, 1, 2, 3);
            // Inside the first file: the very bytes of the mapping, not a copy.
            assertThat(first.data().address())
                    .isEqualTo(data.parts().getFirst().rows().data().address());
            assertThat(rowsOf(batches.next())).containsExactly(4, 5, 6, 7);
            assertThat(rowsOf(batches.next())).containsExactly(8, 9, 0, 1);
            assertThat(batches.position()).isEqualTo(new DataPosition(1, 2));
            SequentialBatches resumed = new SequentialBatches(data, 4, new DataPosition(1, 2), arena);
            assertThat(rowsOf(resumed.next())).containsExactly(2, 3, 4, 5);
        }
    }

    @Test
    void shuffledEpochsVisitEveryRowOnceAndResumeWhereTheyStopped() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            ActivationData data = open(arena);
            ShuffledBatches batches = new ShuffledBatches(data, 5, 11, DataPosition.START, arena);
            List<Integer> epoch0 = new ArrayList<>(rowsOf(batches.next()));
            epoch0.addAll(rowsOf(batches.next()));
            assertThat(epoch0).containsExactlyInAnyOrder(0, 1, 2, 3, 4, 5, 6, 7, 8, 9);
            assertThat(epoch0).isNotEqualTo(List.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
            DataPosition position = batches.position();
            assertThat(position).isEqualTo(new DataPosition(1, 0));
            List<Integer> next = rowsOf(batches.next());
            ShuffledBatches resumed = new ShuffledBatches(data, 5, 11, position, arena);
            assertThat(rowsOf(resumed.next())).isEqualTo(next);
        }
    }
}
