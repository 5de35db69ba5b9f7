package ai.batchtopk.data;

import static ai.batchtopk.data.NumberedRows.numbered;
import static ai.batchtopk.data.NumberedRows.rowsOf;
import static org.assertj.core.api.Assertions.assertThat;

import ai.batchtopk.io.Npy;
import ai.batchtopk.io.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link RowOrigin} names, for each row of each batch, the file and row the batch's stream took it from:
 * three files whose rows hold their row number in the whole data, read in every order, over epochs.
 */
class RowOriginTest {
    @TempDir
    Path tmp;

    private ActivationData open(Arena arena) throws IOException {
        Path a = tmp.resolve("a.npy");
        Path b = tmp.resolve("b.npy");
        Path c = tmp.resolve("c.npy");
        Npy.write(a, numbered(0, 13, arena));
        Npy.write(b, numbered(13, 5, arena));
        Npy.write(c, numbered(18, 22, arena));
        return ActivationData.open(List.of(a, b, c), arena);
    }

    /** Draws batches and checks that every row's described origin is the row its value says. */
    private static void check(ActivationData data, BatchSource batches, RowOrigin origin, int count) {
        for (int i = 0; i < count; i++) {
            DataPosition start = batches.position();
            Tensor batch = batches.next();
            List<Integer> rows = rowsOf(batch);
            for (int k = 0; k < rows.size(); k++) {
                assertThat(origin.describe(start, k))
                        .as("row %d of the batch at %s", k, start)
                        .isEqualTo(RowOrigin.of(data, rows.get(k)));
            }
        }
    }

    @Test
    void namesTheFileAndTheRowWithinIt() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            ActivationData data = open(arena);
            assertThat(RowOrigin.of(data, 0)).isEqualTo("row 0 (0-based) of " + tmp.resolve("a.npy"));
            assertThat(RowOrigin.of(data, 14)).isEqualTo("row 1 (0-based) of " + tmp.resolve("b.npy"));
            assertThat(RowOrigin.of(data, 39)).isEqualTo("row 21 (0-based) of " + tmp.resolve("c.npy"));
        }
    }

    @Test
    void sequentialRowsAcrossFilesAndEpochs() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            ActivationData data = open(arena);
            check(data, new SequentialBatches(data, 7, DataPosition.START, arena), RowOrigin.sequential(data), 20);
        }
    }

    @Test
    void shuffledRowsAcrossEpochs() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            ActivationData data = open(arena);
            check(
                    data,
                    new ShuffledBatches(data, 7, 5, 0, DataPosition.START, arena),
                    RowOrigin.shuffled(data, 5, 0),
                    20);
        }
    }

    @Test
    void windowedShuffleRowsWithAShortLastWindow() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            ActivationData data = open(arena);
            // 40 rows in windows of 6: the last window has 4 rows, and its two missing slots are skipped.
            check(
                    data,
                    new ShuffledBatches(data, 9, 3, 6, new DataPosition(2, 11), arena),
                    RowOrigin.shuffled(data, 3, 6),
                    20);
        }
    }

    @Test
    void prefetchedBatchesAreKnownByThePositionTheyStartAt() throws IOException {
        try (Arena arena = Arena.ofShared()) {
            ActivationData data = open(arena);
            try (PrefetchingBatches prefetching =
                    new PrefetchingBatches(new ShuffledBatches(data, 8, 21, 10, DataPosition.START, arena), 3, arena)) {
                check(data, prefetching, RowOrigin.shuffled(data, 21, 10), 15);
            }
        }
    }
}
