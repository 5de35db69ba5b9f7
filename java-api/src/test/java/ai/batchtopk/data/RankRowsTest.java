package ai.batchtopk.data;

import static ai.batchtopk.data.NumberedRows.numbered;
import static ai.batchtopk.data.NumberedRows.rowsOf;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.batchtopk.io.DType;
import ai.batchtopk.io.Npy;
import ai.batchtopk.io.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The ranks' blocks of each batch, put together in rank order, are the batch one process reads: for the
 * shuffled (full and windowed) and the sequential order across files and epochs, for any stream through
 * the default {@link RowStream#fillRows}, and through a prefetch thread.
 */
class RankRowsTest {
    private static final int BATCHES = 9;

    @TempDir
    Path tmp;

    /** 0-16 in a.npy, 17-28 in b.npy: a batch of 7 spans both files and both ends of an epoch. */
    private ActivationData data(Arena arena) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("parts"));
        Npy.write(dir.resolve("a.npy"), numbered(0, 17, arena));
        Npy.write(dir.resolve("b.npy"), numbered(17, 12, arena));
        return ActivationData.open(List.of(dir), arena);
    }

    @Test
    void theRanksBlocksInRankOrderAreTheGlobalBatches() throws IOException {
        try (Arena arena = Arena.ofShared()) {
            ActivationData data = data(arena);
            DataPosition start = new DataPosition(1, 5);
            List<Supplier<RowStream>> orders = List.of(
                    () -> new ShuffledBatches(data, 7, 3, start, arena),
                    () -> new ShuffledBatches(data, 7, 3, 10, start, arena),
                    () -> new SequentialBatches(data, 7, start, arena),
                    () -> wholeBatchesOnly(new ShuffledBatches(data, 7, 3, start, arena)));
            for (Supplier<RowStream> order : orders) {
                RowStream global = order.get();
                List<List<Integer>> expected = new ArrayList<>();
                List<DataPosition> positions = new ArrayList<>();
                Tensor batch = Tensor.allocate(DType.F32, new long[] {7, NumberedRows.D}, arena);
                for (int b = 0; b < BATCHES; b++) {
                    global.fill(batch.data());
                    expected.add(rowsOf(batch));
                    positions.add(global.position());
                }
                for (int ranks = 1; ranks <= 3; ranks++) {
                    List<List<Integer>> joined = new ArrayList<>();
                    for (int b = 0; b < BATCHES; b++) {
                        joined.add(new ArrayList<>());
                    }
                    for (int rank = 0; rank < ranks; rank++) {
                        RankRows share = new RankRows(order.get(), rank, ranks, arena);
                        assertThat(share.firstRow()).isEqualTo(7L * rank / ranks);
                        for (int b = 0; b < BATCHES; b++) {
                            joined.get(b).addAll(rowsOf(share.next()));
                            assertThat(share.position()).isEqualTo(positions.get(b));
                        }
                    }
                    assertThat(joined).as("%s over %d ranks", global, ranks).isEqualTo(expected);
                }
            }
        }
    }

    @Test
    void aPrefetchThreadDeliversTheSameBlocks() throws IOException {
        try (Arena arena = Arena.ofShared()) {
            ActivationData data = data(arena);
            RankRows direct = new RankRows(new ShuffledBatches(data, 7, 3, DataPosition.START, arena), 1, 2, arena);
            try (PrefetchingBatches prefetched = new PrefetchingBatches(
                    new RankRows(new ShuffledBatches(data, 7, 3, DataPosition.START, arena), 1, 2, null), 2, arena)) {
                for (int b = 0; b < BATCHES; b++) {
                    assertThat(rowsOf(prefetched.next())).isEqualTo(rowsOf(direct.next()));
                    assertThat(prefetched.position()).isEqualTo(direct.position());
                }
            }
        }
    }

    @Test
    void eachRankNeedsARowOfEveryBatch() throws IOException {
        try (Arena arena = Arena.ofShared()) {
            ActivationData data = data(arena);
            assertThatThrownBy(
                            () -> new RankRows(new SequentialBatches(data, 2, DataPosition.START, arena), 0, 3, arena))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("a batch of 2 rows cannot give each of 3 ranks a row");
            assertThatThrownBy(
                            () -> new RankRows(new SequentialBatches(data, 2, DataPosition.START, arena), 2, 2, arena))
                    .hasMessageContaining("rank 2 of 2 is out of range");
        }
    }

    /** A stream that only delivers whole batches, so that its blocks come from the default fillRows. */
    private static RowStream wholeBatchesOnly(RowStream stream) {
        return new RowStream() {
            @Override
            public void fill(MemorySegment out) {
                stream.fill(out);
            }

            @Override
            public DataPosition position() {
                return stream.position();
            }

            @Override
            public long epoch() {
                return stream.epoch();
            }

            @Override
            public long nextRow() {
                return stream.nextRow();
            }

            @Override
            public long batchSize() {
                return stream.batchSize();
            }

            @Override
            public DType dtype() {
                return stream.dtype();
            }

            @Override
            public long width() {
                return stream.width();
            }

            @Override
            public String toString() {
                return "whole batches of " + stream;
            }
        };
    }
}
