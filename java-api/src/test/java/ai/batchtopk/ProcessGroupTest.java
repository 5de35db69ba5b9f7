package ai.batchtopk;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.batchtopk.io.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Data-parallel training from Java: 2 and 3 ranks (threads, each with its own SAE, joined by c10d/Gloo
 * on 127.0.0.1) train the same SAE as one process on the same global batches.
 */
class ProcessGroupTest {
    private static final int STEPS = 20;
    private static final long BATCH = 60;
    private static final long D = 32;
    private static final String[] PARAMETERS = {"W_enc", "b_enc", "W_dec", "b_dec"};

    @BeforeAll
    static void needsGloo() {
        assertThat(ProcessGroup.available()).as("this build has c10d/Gloo").isTrue();
    }

    private static SaeConfig config() {
        return TestData.small(Architecture.BATCHTOPK)
                .lr(1e-3)
                .deadAfterTokens(BATCH)
                .build();
    }

    private static Tensor globalBatch(Arena arena, int step) {
        return TestData.gaussian(arena, BATCH, D, 500 + step, 0.3f);
    }

    /** Rows [from, to) of a batch, in place. */
    private static Tensor rows(Tensor batch, long from, long to) {
        long rowBytes = batch.dim(1) * Float.BYTES;
        return new Tensor(
                batch.dtype(),
                new long[] {to - from, batch.dim(1)},
                batch.data().asSlice(from * rowBytes, (to - from) * rowBytes));
    }

    static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 3})
    void ranksTrainTheSameSaeAsOneProcess(int world) throws Exception {
        List<StepMetrics> single = new ArrayList<>();
        List<Tensor> singleState = new ArrayList<>();
        try (Arena arena = Arena.ofShared();
                Sae sae = Sae.create(config())) {
            for (int step = 0; step < STEPS; step++) {
                single.add(sae.trainStep(globalBatch(arena, step)));
            }
            for (String name : PARAMETERS) {
                singleState.add(sae.state(name));
            }
            singleState.add(sae.state("tokens_since_fired"));
        }

        int port = freePort();
        ExecutorService pool = Executors.newFixedThreadPool(world);
        try {
            List<Future<List<Tensor>>> ranks = new ArrayList<>();
            for (int rank = 0; rank < world; rank++) {
                int r = rank;
                ranks.add(pool.submit(() -> {
                    try (Arena arena = Arena.ofShared();
                            ProcessGroup group =
                                    ProcessGroup.join(r, world, "127.0.0.1", port, Duration.ofSeconds(30));
                            Sae sae = Sae.create(config())) {
                        long from = BATCH * r / world;
                        long to = BATCH * (r + 1) / world;
                        for (int step = 0; step < STEPS; step++) {
                            StepMetrics m = sae.trainStep(rows(globalBatch(arena, step), from, to), group);
                            StepMetrics expected = single.get(step);
                            assertThat(m.l0()).as("l0 at step %d", step).isEqualTo(expected.l0());
                            assertThat(m.dead()).as("dead at step %d", step).isEqualTo(expected.dead());
                            assertThat(m.loss())
                                    .as("loss at step %d", step)
                                    .isCloseTo(
                                            expected.loss(),
                                            org.assertj.core.api.Assertions.within(1e-5 * expected.loss()));
                        }
                        assertThat(group.bytesReduced()).isPositive();
                        List<Tensor> state = new ArrayList<>();
                        for (String name : PARAMETERS) {
                            state.add(sae.state(name));
                        }
                        state.add(sae.state("tokens_since_fired"));
                        return state;
                    }
                }));
            }
            List<Tensor> first = null;
            for (Future<List<Tensor>> rank : ranks) {
                List<Tensor> state = rank.get(120, TimeUnit.SECONDS);
                for (int i = 0; i < PARAMETERS.length; i++) {
                    assertThat(TestData.relativeDifference(state.get(i), singleState.get(i)))
                            .as(PARAMETERS[i])
                            .isLessThan(2e-5);
                }
                // Identical selections leave identical dead-latent counters.
                assertThat(state.get(PARAMETERS.length).toLongArray())
                        .isEqualTo(singleState.get(PARAMETERS.length).toLongArray());
                if (first == null) {
                    first = state;
                } else {
                    for (int i = 0; i < state.size(); i++) {
                        assertThat(bytes(state.get(i)))
                                .as("every rank holds the same SAE")
                                .isEqualTo(bytes(first.get(i)));
                    }
                }
            }
        } finally {
            pool.shutdownNow();
        }
    }

    private static byte[] bytes(Tensor t) {
        return t.data().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
    }

    @Test
    void badRankIsRefused() {
        assertThatThrownBy(() -> ProcessGroup.join(3, 2, "127.0.0.1", freePort(), Duration.ofSeconds(1)))
                .isInstanceOfSatisfying(
                        BatchTopKException.class, e -> assertThat(e.status()).isEqualTo(Status.INVALID_ARGUMENT))
                .hasMessageContaining("rank 3 is outside 0..1");
    }

    @Test
    void portInUseIsAClearError() throws IOException {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            int port = taken.getLocalPort();
            assertThatThrownBy(() -> ProcessGroup.join(0, 1, "127.0.0.1", port, Duration.ofSeconds(2)))
                    .isInstanceOfSatisfying(
                            BatchTopKException.class,
                            e -> assertThat(e.status()).isEqualTo(Status.COMMUNICATION))
                    .hasMessageContaining("cannot host the rendezvous store on 127.0.0.1:" + port);
        }
    }

    @Test
    void matryoshkaIsRefusedByName() throws Exception {
        try (Arena arena = Arena.ofShared();
                ProcessGroup group = ProcessGroup.join(0, 1, "127.0.0.1", freePort(), Duration.ofSeconds(5));
                Sae sae = Sae.create(
                        TestData.small(Architecture.MATRYOSHKA_BATCHTOPK).build())) {
            assertThatThrownBy(() -> sae.trainStep(globalBatch(arena, 0), group))
                    .isInstanceOfSatisfying(
                            BatchTopKException.class,
                            e -> assertThat(e.status()).isEqualTo(Status.INVALID_ARGUMENT))
                    .hasMessageContaining("does not support the matryoshka-batchtopk architecture");
        }
    }

    @Test
    void sumsOverRanksAndClosesTwice() throws Exception {
        try (ProcessGroup group = ProcessGroup.join(0, 1, "127.0.0.1", freePort(), Duration.ofSeconds(5))) {
            double[] values = {1.5, -2};
            group.sum(values);
            assertThat(values).containsExactly(1.5, -2);
            group.close();
            assertThatThrownBy(group::bytesReduced).isInstanceOf(IllegalStateException.class);
        }
    }
}
