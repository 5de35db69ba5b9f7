package ai.batchtopk;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Latent sharding from Java: 2 and 3 ranks (threads, each holding its shard, joined by c10d/Gloo on
 * 127.0.0.1) train the same SAE as one process on the same batches; checkpoints of the shards resume
 * the same run, with the same world size or re-sliced for another.
 */
class ShardedSaeTest {
    private static final int STEPS = 20;
    private static final long BATCH = 48;
    private static final long D = 32;
    private static final long LATENTS = 131; // 2 * 65 + 1 = 3 * 43 + 2: uneven shards
    private static final String[] COMPARED = {"W_enc", "b_enc", "W_dec", "b_dec", "adam.v.W_enc", "adam.m.W_dec"};

    @TempDir
    Path dir;

    @BeforeAll
    static void needsGloo() {
        assertThat(ProcessGroup.available()).as("this build has c10d/Gloo").isTrue();
    }

    private static SaeConfig config(Architecture architecture) {
        return SaeConfig.builder(D, LATENTS)
                .architecture(architecture)
                .k(6)
                .kAux(16)
                .seed(11)
                .lr(1e-3)
                .deadAfterTokens(BATCH)
                .build();
    }

    private static Tensor batch(Arena arena, int step) {
        return TestData.gaussian(arena, BATCH, D, 800 + step, 0.3f);
    }

    interface RankBody<T> {
        T run(ProcessGroup group) throws Exception;
    }

    /** Runs body on every rank of a fresh group, each on its own thread; the results in rank order. */
    private static <T> List<T> onRanks(int world, RankBody<T> body) throws Exception {
        int port = ProcessGroupTest.freePort();
        ExecutorService pool = Executors.newFixedThreadPool(world);
        try {
            List<Future<T>> ranks = new ArrayList<>();
            for (int rank = 0; rank < world; rank++) {
                int r = rank;
                ranks.add(pool.submit(() -> {
                    try (ProcessGroup group = ProcessGroup.join(r, world, "127.0.0.1", port, Duration.ofSeconds(30))) {
                        return body.run(group);
                    }
                }));
            }
            List<T> results = new ArrayList<>();
            for (Future<T> rank : ranks) {
                results.add(rank.get(120, TimeUnit.SECONDS));
            }
            return results;
        } finally {
            pool.shutdownNow();
        }
    }

    private record Trained(List<StepMetrics> metrics, Optional<Sae> whole) {}

    @ParameterizedTest
    @CsvSource({"2, BATCHTOPK", "3, BATCHTOPK", "2, TOPK", "3, TOPK"})
    void shardsTrainTheSameSaeAsOneProcess(int world, Architecture architecture) throws Exception {
        List<StepMetrics> single = new ArrayList<>();
        try (Arena arena = Arena.ofShared();
                Sae sae = Sae.create(config(architecture))) {
            for (int step = 0; step < STEPS; step++) {
                single.add(sae.trainStep(batch(arena, step)));
            }
            List<Trained> ranks = onRanks(world, group -> {
                try (Arena mine = Arena.ofShared();
                        ShardedSae shard = ShardedSae.create(config(architecture), group)) {
                    List<StepMetrics> metrics = new ArrayList<>();
                    for (int step = 0; step < STEPS; step++) {
                        metrics.add(shard.trainStep(batch(mine, step)));
                    }
                    assertThat(group.bytesReduced()).isPositive();
                    return new Trained(metrics, shard.gather());
                }
            });
            for (int rank = 0; rank < world; rank++) {
                for (int step = 0; step < STEPS; step++) {
                    StepMetrics m = ranks.get(rank).metrics().get(step);
                    StepMetrics expected = single.get(step);
                    // Identical selections: the same L0 and dead count at every step.
                    assertThat(m.l0()).as("l0 at step %d", step).isEqualTo(expected.l0());
                    assertThat(m.dead()).as("dead at step %d", step).isEqualTo(expected.dead());
                    assertThat(m.loss())
                            .as("loss at step %d", step)
                            .isCloseTo(expected.loss(), within(1e-5 * expected.loss()));
                }
                assertThat(ranks.get(rank).whole().isPresent())
                        .as("rank %d gets the gathered SAE", rank)
                        .isEqualTo(rank == 0);
            }
            try (Sae whole = ranks.get(0).whole().orElseThrow()) {
                assertThat(whole.dSae()).isEqualTo(LATENTS);
                for (String name : COMPARED) {
                    assertThat(TestData.relativeDifference(whole.state(name), sae.state(name)))
                            .as(name)
                            .isLessThan(2e-5);
                }
                assertThat(whole.state("tokens_since_fired").toLongArray())
                        .isEqualTo(sae.state("tokens_since_fired").toLongArray());
                assertThat(whole.theta()).isCloseTo(sae.theta(), within(1e-5 * sae.theta()));
            }
        }
    }

    @Test
    void aCheckpointResumesTheSameRunWithTheSameOrAnotherWorldSize() throws Exception {
        Path checkpoint = dir.resolve("shards");
        int world = 2;
        // Uninterrupted: 8 steps. Interrupted: 5 steps, saved, resumed in a new group, 3 more.
        List<Map<String, byte[]>> uninterrupted = onRanks(world, group -> {
            try (Arena arena = Arena.ofShared();
                    ShardedSae shard = ShardedSae.create(config(Architecture.BATCHTOPK), group)) {
                for (int step = 0; step < 8; step++) {
                    shard.trainStep(batch(arena, step));
                }
                return stateBytes(shard);
            }
        });
        List<Optional<Map<String, Tensor>>> saved = onRanks(world, group -> {
            try (Arena arena = Arena.ofShared();
                    ShardedSae shard = ShardedSae.create(config(Architecture.BATCHTOPK), group)) {
                for (int step = 0; step < 4; step++) {
                    shard.trainStep(batch(arena, step));
                }
                // Two saves: the second replaces the first's generation.
                ShardedCheckpoint.save(shard, checkpoint, Map.of("position", "3"));
                shard.trainStep(batch(arena, 4));
                ShardedCheckpoint.save(shard, checkpoint, Map.of("position", "4"));
                return wholeState(shard);
            }
        });
        assertThat(checkpoint.resolve(ShardedCheckpoint.MANIFEST)).exists();
        try (var entries = Files.list(checkpoint)) {
            assertThat(entries.map(p -> p.getFileName().toString()).sorted().toList())
                    .containsExactly("shards-2", ShardedCheckpoint.MANIFEST);
        }
        List<Map<String, byte[]>> resumed = onRanks(world, group -> {
            try (Arena arena = Arena.ofShared();
                    ShardedCheckpoint.Loaded loaded = ShardedCheckpoint.resume(checkpoint, group)) {
                assertThat(loaded.extra()).containsEntry("position", "4");
                for (int step = 5; step < 8; step++) {
                    loaded.sae().trainStep(batch(arena, step));
                }
                return stateBytes(loaded.sae());
            }
        });
        for (int rank = 0; rank < world; rank++) {
            for (var entry : uninterrupted.get(rank).entrySet()) {
                assertThat(resumed.get(rank).get(entry.getKey()))
                        .as("rank %d's %s", rank, entry.getKey())
                        .isEqualTo(entry.getValue());
            }
        }

        // With 3 ranks, each re-slices its latents from the 2 files: the same SAE, byte for byte.
        List<Optional<Map<String, Tensor>>> resliced = onRanks(3, group -> {
            try (ShardedCheckpoint.Loaded loaded = ShardedCheckpoint.resume(checkpoint, group)) {
                assertThat(loaded.extra()).containsEntry("position", "4");
                assertThat(loaded.sae().shard().latents()).isEqualTo(group.rank() < 2 ? 44 : 43);
                return wholeState(loaded.sae());
            }
        });
        Map<String, Tensor> before = saved.get(0).orElseThrow();
        Map<String, Tensor> after = resliced.get(0).orElseThrow();
        assertThat(after.keySet()).isEqualTo(before.keySet());
        for (String name : before.keySet()) {
            assertThat(after.get(name).shape())
                    .as(name)
                    .isEqualTo(before.get(name).shape());
            assertThat(after.get(name).data().mismatch(before.get(name).data()))
                    .as("%s after re-slicing 2 shards into 3", name)
                    .isEqualTo(-1L);
        }
    }

    /** Every state tensor of the gathered SAE, on rank 0. */
    private static Optional<Map<String, Tensor>> wholeState(ShardedSae shard) {
        return shard.gather().map(whole -> {
            try (whole) {
                Map<String, Tensor> state = new java.util.TreeMap<>();
                for (String name : whole.stateNames()) {
                    if (!name.startsWith("grad.")) {
                        state.put(name, whole.state(name));
                    }
                }
                return state;
            }
        });
    }

    private static Map<String, byte[]> stateBytes(ShardedSae shard) {
        Map<String, byte[]> state = new java.util.TreeMap<>();
        try (Arena arena = Arena.ofConfined()) {
            for (String name : shard.stateNames()) {
                if (!name.startsWith("grad.")) {
                    state.put(name, shard.state(name, arena).data().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
                }
            }
        }
        return state;
    }

    @Test
    void resumingOverMoreRanksThanLatentsIsAClearError() throws Exception {
        Path checkpoint = dir.resolve("tiny");
        SaeConfig tiny = SaeConfig.builder(D, 2)
                .architecture(Architecture.BATCHTOPK)
                .k(1)
                .build();
        onRanks(2, group -> {
            try (ShardedSae shard = ShardedSae.create(tiny, group)) {
                ShardedCheckpoint.save(shard, checkpoint, Map.of());
                return null;
            }
        });
        List<String> messages = onRanks(3, group -> {
            try {
                ShardedCheckpoint.resume(checkpoint, group).close();
                return "resumed";
            } catch (IllegalArgumentException e) {
                return e.getMessage();
            }
        });
        assertThat(messages)
                .allSatisfy(message -> assertThat(message)
                        .contains("has d_sae = 2 latents, which cannot be sharded over 3 ranks (it was written by 2)"));
    }

    @Test
    void fewerLatentsThanRanksIsAClearError() throws Exception {
        SaeConfig tiny = SaeConfig.builder(D, 2)
                .architecture(Architecture.BATCHTOPK)
                .k(1)
                .build();
        List<String> messages = onRanks(3, group -> {
            try {
                ShardedSae.create(tiny, group).close();
                return "created";
            } catch (BatchTopKException e) {
                assertThat(e.status()).isEqualTo(Status.INVALID_ARGUMENT);
                return e.getMessage();
            }
        });
        assertThat(messages)
                .allSatisfy(
                        message -> assertThat(message).contains("d_sae = 2 latents cannot be sharded over 3 ranks"));
    }

    @Test
    void aShardHoldsItsSliceOfTheWholeSae() throws Exception {
        List<ShardedSae.Shard> places = onRanks(2, group -> {
            try (ShardedSae shard = ShardedSae.create(config(Architecture.BATCHTOPK), group)) {
                assertThat(shard.config().dSae()).isEqualTo(LATENTS);
                assertThat(shard.stateInfo("W_enc").shape())
                        .containsExactly(D, shard.shard().latents());
                assertThat(shard.stateInfo("W_dec").shape())
                        .containsExactly(shard.shard().latents(), D);
                assertThat(shard.stateInfo("b_dec").shape()).containsExactly(D);
                return shard.shard();
            }
        });
        assertThat(places)
                .containsExactly(
                        new ShardedSae.Shard(0, 2, 0, 66, LATENTS), new ShardedSae.Shard(1, 2, 66, 65, LATENTS));
    }
}
