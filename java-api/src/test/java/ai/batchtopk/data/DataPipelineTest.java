package ai.batchtopk.data;

import static ai.batchtopk.data.NumberedRows.numbered;
import static ai.batchtopk.data.NumberedRows.rowsOf;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.batchtopk.io.Npy;
import ai.batchtopk.io.Safetensors;
import ai.batchtopk.io.Tensor;
import ai.batchtopk.train.LrSchedule;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Sources (.npy, safetensors, shard directories), the windowed shuffle and the prefetch thread. */
class DataPipelineTest {
    @TempDir
    Path tmp;

    /** A shard directory: 0-9 in a.npy, 10-14 in b.safetensors (plus another tensor), 15-19 in c.npy. */
    private Path shards(Arena arena) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("shards"));
        Npy.write(dir.resolve("c.npy"), numbered(15, 5, arena));
        Npy.write(dir.resolve("a.npy"), numbered(0, 10, arena));
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("acts", numbered(10, 5, arena));
        tensors.put("token_ids", Tensor.ofLongs(new long[] {5}, 1, 2, 3, 4, 5));
        Safetensors.write(dir.resolve("b.safetensors"), tensors, Map.of());
        Files.writeString(dir.resolve("notes.txt"), "not data");
        return dir;
    }

    @Test
    void aDirectoryIsItsShardsSortedByName() throws IOException {
        try (Arena arena = Arena.ofShared()) {
            ActivationData data = ActivationData.open(List.of(shards(arena)), arena);
            assertThat(data.rows()).isEqualTo(20);
            assertThat(data.parts())
                    .extracting(p -> p.path().getFileName().toString())
                    .containsExactly("a.npy", "b.safetensors", "c.npy");
            SequentialBatches batches = new SequentialBatches(data, 20, DataPosition.START, arena);
            assertThat(rowsOf(batches.next())).isEqualTo(range(0, 20));
        }
    }

    @Test
    void aSafetensorsFileGivesItsOnlyMatrixOrTheNamedTensor() throws IOException {
        try (Arena arena = Arena.ofShared()) {
            Path file = shards(arena).resolve("b.safetensors");
            assertThat(ActivationData.open(List.of(file), arena).rows()).isEqualTo(5);
            assertThat(ActivationData.open(List.of(Path.of(file + ":acts")), arena)
                            .rows())
                    .isEqualTo(5);
            assertThatThrownBy(() -> ActivationData.open(List.of(Path.of(file + ":nope")), arena))
                    .hasMessageContaining("nope")
                    .hasMessageContaining("b.safetensors");

            Map<String, Tensor> two = new LinkedHashMap<>();
            two.put("x", numbered(0, 2, arena));
            two.put("y", numbered(0, 2, arena));
            Path both = tmp.resolve("both.safetensors");
            Safetensors.write(both, two, Map.of());
            assertThatThrownBy(() -> ActivationData.open(List.of(both), arena))
                    .isInstanceOf(DataException.class)
                    .hasMessageContaining("2 2-D float tensors (x, y)")
                    .hasMessageContaining(both + ":NAME");
        }
    }

    @Test
    void aTruncatedShardIsNamed() throws IOException {
        try (Arena arena = Arena.ofShared()) {
            Path dir = shards(arena);
            Path c = dir.resolve("c.npy");
            byte[] bytes = Files.readAllBytes(c);
            Files.write(c, java.util.Arrays.copyOf(bytes, bytes.length - 5), StandardOpenOption.TRUNCATE_EXISTING);
            assertThatThrownBy(() -> ActivationData.open(List.of(dir), arena)).hasMessageContaining("c.npy");
            Path b = dir.resolve("b.safetensors");
            bytes = Files.readAllBytes(b);
            Files.write(b, java.util.Arrays.copyOf(bytes, bytes.length - 5), StandardOpenOption.TRUNCATE_EXISTING);
            assertThatThrownBy(() -> ActivationData.open(List.of(b), arena)).hasMessageContaining("b.safetensors");
        }
    }

    @Test
    void windowedShuffleVisitsEveryRowOncePerEpochWindowByWindowAndResumes() throws IOException {
        try (Arena arena = Arena.ofShared()) {
            ActivationData data = ActivationData.open(List.of(shards(arena)), arena);
            // 20 rows in windows of 6: 6, 6, 6, 2.
            ShuffledBatches batches = new ShuffledBatches(data, 4, 7, 6, DataPosition.START, arena);
            List<Integer> epoch = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                epoch.addAll(rowsOf(batches.next()));
            }
            assertThat(epoch).containsExactlyInAnyOrderElementsOf(range(0, 20));
            assertThat(epoch).isNotEqualTo(range(0, 20));
            // Consecutive rows come from one window until it is used up.
            List<Set<Integer>> windows = new ArrayList<>();
            for (int r : epoch) {
                if (windows.isEmpty()
                        || windows.getLast().size() == (r / 6 == 3 ? 2 : 6)
                        || windows.getLast().iterator().next() / 6 != r / 6) {
                    windows.add(new HashSet<>());
                }
                windows.getLast().add(r);
            }
            assertThat(windows).hasSize(4);
            DataPosition position = batches.position();
            List<Integer> next = rowsOf(batches.next());
            ShuffledBatches resumed = new ShuffledBatches(data, 4, 7, 6, position, arena);
            assertThat(rowsOf(resumed.next())).isEqualTo(next);
        }
    }

    @Test
    void prefetchDeliversTheSameBatchesAndPositionsAsTheStreamItself() throws IOException {
        try (Arena arena = Arena.ofShared()) {
            ActivationData data = ActivationData.open(List.of(shards(arena)), arena);
            ShuffledBatches direct = new ShuffledBatches(data, 7, 3, 0, DataPosition.START, arena);
            try (PrefetchingBatches prefetched =
                    new PrefetchingBatches(new ShuffledBatches(data, 7, 3, 0, DataPosition.START, null), 2, arena)) {
                java.util.Set<Long> addresses = new HashSet<>();
                for (int i = 0; i < 12; i++) {
                    Tensor batch = prefetched.next();
                    addresses.add(batch.data().address());
                    assertThat(rowsOf(batch)).as("batch %d", i).isEqualTo(rowsOf(direct.next()));
                    assertThat(prefetched.position()).isEqualTo(direct.position());
                }
                // A ring of depth + 1 buffers, reused.
                assertThat(addresses).hasSize(3);
            }
        }
    }

    @Test
    void sequentialPrefetchCopiesAcrossFilesAndWraps() throws IOException {
        try (Arena arena = Arena.ofShared()) {
            ActivationData data = ActivationData.open(List.of(shards(arena)), arena);
            try (PrefetchingBatches batches =
                    new PrefetchingBatches(new SequentialBatches(data, 8, DataPosition.START, arena), 1, arena)) {
                assertThat(rowsOf(batches.next())).isEqualTo(range(0, 8));
                assertThat(rowsOf(batches.next())).isEqualTo(range(8, 16));
                assertThat(rowsOf(batches.next())).containsExactly(16, 17, 18, 19, 0, 1, 2, 3);
                assertThat(batches.position()).isEqualTo(new DataPosition(1, 4));
            }
        }
    }

    @Test
    void aReadErrorInThePrefetchThreadReachesTheTrainer() throws IOException {
        try (Arena arena = Arena.ofShared()) {
            ActivationData data = ActivationData.open(List.of(shards(arena)), arena);
            RowStream failing = new RowStream() {
                @Override
                public void fill(java.lang.foreign.MemorySegment out) {
                    throw new IllegalStateException("disk gone");
                }

                @Override
                public DataPosition position() {
                    return DataPosition.START;
                }

                @Override
                public long epoch() {
                    return 0;
                }

                @Override
                public long nextRow() {
                    return 0;
                }

                @Override
                public long batchSize() {
                    return 4;
                }

                @Override
                public ai.batchtopk.io.DType dtype() {
                    return data.dtype();
                }

                @Override
                public long width() {
                    return data.width();
                }
            };
            try (PrefetchingBatches batches = new PrefetchingBatches(failing, 2, arena)) {
                assertThatThrownBy(batches::next)
                        .isInstanceOf(DataException.class)
                        .hasMessageContaining("disk gone");
            }
        }
    }

    @Test
    void learningRateSchedules() {
        LrSchedule warm = new LrSchedule(1.0, 10, 4, LrSchedule.Decay.NONE, 0);
        assertThat(warm.at(1)).isEqualTo(0.25);
        assertThat(warm.at(4)).isEqualTo(1.0);
        assertThat(warm.at(10)).isEqualTo(1.0);
        LrSchedule linear = new LrSchedule(1.0, 12, 2, LrSchedule.Decay.LINEAR, 0.5);
        assertThat(linear.at(3)).isEqualTo(1.0);
        assertThat(linear.at(8)).isCloseTo(0.75, org.assertj.core.data.Offset.offset(1e-12));
        assertThat(linear.at(12)).isCloseTo(0.55, org.assertj.core.data.Offset.offset(1e-12));
        LrSchedule cosine = new LrSchedule(1.0, 10, 0, LrSchedule.Decay.COSINE, 0);
        assertThat(cosine.at(1)).isEqualTo(1.0);
        assertThat(cosine.at(6)).isCloseTo(0.5, org.assertj.core.data.Offset.offset(1e-12));
        for (long s = 1; s <= 10; s++) {
            assertThat(cosine.at(s)).isPositive();
        }
        assertThat(warm.varies()).isTrue();
        assertThat(new LrSchedule(1.0, 10, 0, LrSchedule.Decay.NONE, 0).varies())
                .isFalse();
    }

    private static List<Integer> range(int from, int to) {
        List<Integer> list = new ArrayList<>();
        for (int i = from; i < to; i++) {
            list.add(i);
        }
        return list;
    }
}
