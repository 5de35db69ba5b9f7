package ai.batchtopk.train;

import static ai.batchtopk.train.RunFiles.assertCloseState;
import static ai.batchtopk.train.RunFiles.column;
import static ai.batchtopk.train.RunFiles.copyTree;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.batchtopk.Architecture;
import ai.batchtopk.ProcessGroup;
import ai.batchtopk.SaeConfig;
import ai.batchtopk.data.ActivationFiles;
import ai.batchtopk.data.RowOrder;
import ai.batchtopk.io.DType;
import ai.batchtopk.io.Npy;
import ai.batchtopk.io.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A data-parallel {@link TrainingRun} (ranks as threads of this JVM, joined by c10d/Gloo on 127.0.0.1)
 * trains the same SAE as one process on the same data and seed, writes only from rank 0, and goes on
 * from a checkpoint with another number of ranks.
 */
class DataParallelRunTest {
    private static final long D = 16;
    private static final long BATCH = 60;

    @TempDir
    Path tmp;

    // Synchronized: the ranks (threads) ask for it at once, and a second writer would replace the file a
    // first reader has opened.
    private synchronized Path data() throws IOException {
        Path file = tmp.resolve("acts.npy");
        if (!Files.exists(file)) {
            try (Arena arena = Arena.ofConfined()) {
                Tensor t = Tensor.allocate(DType.F32, new long[] {1000, D}, arena);
                SplittableRandom random = new SplittableRandom(4);
                for (long i = 0; i < 1000 * D; i++) {
                    // Sparse-ish and skewed, so that selections differ from row to row.
                    double g = random.nextDouble() < 0.3 ? random.nextDouble() * 3 : random.nextDouble() * 0.2;
                    t.data().setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) g);
                }
                Npy.write(file, t);
            }
        }
        return file;
    }

    private RunSpec spec(Path out, long steps, RowOrder order, int prefetch, ProcessGroup group, RunListener listener)
            throws IOException {
        SaeConfig sae = SaeConfig.builder(D, 48)
                .architecture(Architecture.BATCHTOPK)
                .k(3)
                .kAux(8)
                .deadAfterTokens(240)
                .lr(1e-3)
                .seed(9)
                .build();
        return RunSpec.builder(new ActivationFiles(List.of(data()), order), out)
                .sae(sae)
                .batchSize(BATCH)
                .steps(steps)
                .checkpointEvery(10)
                .logEvery(1)
                .prefetch(prefetch)
                .listener(listener)
                .dataParallel(group)
                .build();
    }

    /** What each rank does, given its group. */
    @FunctionalInterface
    interface RankWork {
        RunResult run(ProcessGroup group) throws Exception;
    }

    /** Runs {@code work} on {@code world} ranks (threads) and returns their results in rank order. */
    static List<RunResult> onRanks(int world, RankWork work) throws Exception {
        int port;
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = socket.getLocalPort();
        }
        ExecutorService pool = Executors.newFixedThreadPool(world);
        try {
            List<Future<RunResult>> ranks = new ArrayList<>();
            for (int rank = 0; rank < world; rank++) {
                int r = rank;
                ranks.add(pool.submit(() -> {
                    try (ProcessGroup group = ProcessGroup.join(r, world, "127.0.0.1", port, Duration.ofSeconds(60))) {
                        return work.run(group);
                    }
                }));
            }
            List<RunResult> results = new ArrayList<>();
            for (Future<RunResult> rank : ranks) {
                results.add(rank.get(180, TimeUnit.SECONDS));
            }
            return results;
        } finally {
            pool.shutdownNow();
        }
    }

    @ParameterizedTest
    @CsvSource({"2, true, 2", "3, false, 0"})
    void ranksTrainTheSameSaeAsOneProcess(int world, boolean shuffled, int prefetch) throws Exception {
        RowOrder order = shuffled ? RowOrder.SHUFFLED : RowOrder.SEQUENTIAL;
        Path single = tmp.resolve("single");
        try (TrainingRun run = TrainingRun.start(spec(single, 20, order, prefetch, null, RunListener.NONE))) {
            run.train();
        }
        Path parallel = tmp.resolve("parallel");
        List<RunResult> results = onRanks(world, group -> {
            try (TrainingRun run = TrainingRun.start(spec(parallel, 20, order, prefetch, group, RunListener.NONE))) {
                return run.train();
            }
        });
        for (RunResult result : results) {
            assertThat(result.tokens()).isEqualTo(20 * BATCH);
            assertThat(result.last().l0()).isEqualTo(results.getFirst().last().l0());
        }
        assertCloseState(parallel, single, 2e-5);
        // The same selections at every step: the same L0 and dead counts, line by line.
        assertThat(column(parallel, "l0")).isEqualTo(column(single, "l0"));
        assertThat(column(parallel, "dead")).isEqualTo(column(single, "dead"));
        assertThat(column(parallel, "tokens")).isEqualTo(column(single, "tokens"));
    }

    @Test
    void aRunStoppedOnTwoRanksGoesOnWithThreeAndWithOne() throws Exception {
        Path straight = tmp.resolve("straight");
        try (TrainingRun run = TrainingRun.start(spec(straight, 30, RowOrder.SHUFFLED, 2, null, RunListener.NONE))) {
            run.train();
        }
        // Every rank stops after step 15 (a crash): the checkpoint of step 10 is what is left.
        Path stopped = tmp.resolve("stopped");
        RunListener crash = p -> {
            if (p.step() == 15) {
                throw new IllegalStateException("crash at step 15");
            }
        };
        assertThatThrownBy(() -> onRanks(2, group -> {
                    try (TrainingRun run = TrainingRun.start(spec(stopped, 30, RowOrder.SHUFFLED, 2, group, crash))) {
                        return run.train();
                    }
                }))
                .hasStackTraceContaining("crash at step 15");
        assertThat(column(stopped, "step")).hasSize(15);
        Path copy = tmp.resolve("stopped-copy");
        copyTree(stopped, copy);

        List<RunResult> three = onRanks(3, group -> {
            try (TrainingRun run = TrainingRun.resume(stopped, RunListener.NONE, group)) {
                return run.train();
            }
        });
        assertThat(three.getFirst().tokensThisRun()).isEqualTo(20 * BATCH);
        assertCloseState(stopped, straight, 2e-5);
        assertThat(column(stopped, "step")).isEqualTo(column(straight, "step"));
        assertThat(column(stopped, "l0")).isEqualTo(column(straight, "l0"));

        try (TrainingRun run = TrainingRun.resume(copy)) {
            run.train();
        }
        assertCloseState(copy, straight, 2e-5);
    }

    @Test
    void architecturesTheStepCannotSplitAreRefusedBeforeTheDirectoryChanges() throws Exception {
        Path out = tmp.resolve("jumprelu");
        assertThatThrownBy(() -> onRanks(2, group -> {
                    RunSpec spec = RunSpec.builder(new ActivationFiles(List.of(data()), RowOrder.SHUFFLED), out)
                            .sae(SaeConfig.builder(D, 48)
                                    .architecture(Architecture.JUMPRELU)
                                    .build())
                            .batchSize(BATCH)
                            .steps(5)
                            .dataParallel(group)
                            .build();
                    try (TrainingRun run = TrainingRun.start(spec)) {
                        return run.train();
                    }
                }))
                .hasStackTraceContaining(
                        "data-parallel training supports the batchtopk and topk architectures, not" + " jumprelu");
        assertThat(out).doesNotExist();
    }
}
