package ai.batchtopk.train;

import static ai.batchtopk.train.DataParallelRunTest.onRanks;
import static ai.batchtopk.train.RunFiles.assertCloseTensors;
import static ai.batchtopk.train.RunFiles.column;
import static ai.batchtopk.train.RunFiles.copyTree;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.batchtopk.Architecture;
import ai.batchtopk.Checkpoint;
import ai.batchtopk.ProcessGroup;
import ai.batchtopk.SaeConfig;
import ai.batchtopk.SaeLens;
import ai.batchtopk.ShardedCheckpoint;
import ai.batchtopk.data.ActivationFiles;
import ai.batchtopk.data.RowOrder;
import ai.batchtopk.io.DType;
import ai.batchtopk.io.Npy;
import ai.batchtopk.io.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A latent-sharded {@link TrainingRun} (ranks as threads of this JVM, joined by c10d/Gloo on 127.0.0.1)
 * trains the same SAE as one process on the same data and seed, checkpoints one file per shard, and goes
 * on from a checkpoint with the same or another number of ranks.
 */
class LatentShardedRunTest {
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

    private RunSpec.Builder builder(Path out, Architecture architecture, long steps, RunListener listener)
            throws IOException {
        SaeConfig sae = SaeConfig.builder(D, 49) // not a multiple of 2 or 3: the shards differ in size
                .architecture(architecture)
                .k(3)
                .kAux(8)
                .deadAfterTokens(240)
                .lr(1e-3)
                .seed(9)
                .build();
        return RunSpec.builder(new ActivationFiles(List.of(data()), RowOrder.SHUFFLED), out)
                .sae(sae)
                .batchSize(BATCH)
                .steps(steps)
                .checkpointEvery(10)
                .logEvery(1)
                .evalData(List.of(data()))
                .evalTokens(100)
                .evalEvery(10)
                .listener(listener);
    }

    private RunSpec spec(Path out, Architecture architecture, long steps, ProcessGroup group, RunListener listener)
            throws IOException {
        RunSpec.Builder builder = builder(out, architecture, steps, listener);
        return (group == null ? builder : builder.latentSharded(group)).build();
    }

    @ParameterizedTest
    @CsvSource({"2, BATCHTOPK", "3, BATCHTOPK", "2, TOPK"})
    void shardsTrainTheSameSaeAsOneProcess(int world, Architecture architecture) throws Exception {
        Path single = tmp.resolve("single");
        try (TrainingRun run = TrainingRun.start(spec(single, architecture, 20, null, RunListener.NONE))) {
            run.train();
        }
        Path sharded = tmp.resolve("sharded");
        List<RunResult> results = onRanks(world, group -> {
            try (TrainingRun run = TrainingRun.start(spec(sharded, architecture, 20, group, RunListener.NONE))) {
                return run.train();
            }
        });
        for (RunResult result : results) {
            assertThat(result.tokens()).isEqualTo(20 * BATCH);
            assertThat(result.last().l0()).isEqualTo(results.getFirst().last().l0());
        }
        // The whole SAE, gathered by rank 0, beside one file per shard and no whole-SAE state.
        assertCloseTensors(sharded.resolve(SaeLens.WEIGHTS_FILE), single.resolve(SaeLens.WEIGHTS_FILE), 2e-5);
        assertThat(sharded.resolve(ShardedCheckpoint.MANIFEST)).exists();
        assertThat(sharded.resolve(Checkpoint.STATE_FILE)).doesNotExist();
        // The same selections at every step: the same L0 and dead counts, line by line.
        assertThat(column(sharded, "l0")).isEqualTo(column(single, "l0"));
        assertThat(column(sharded, "dead")).isEqualTo(column(single, "dead"));
        assertThat(column(sharded, "tokens")).isEqualTo(column(single, "tokens"));
        // Rank 0 evaluated the gathered SAE at the same steps.
        assertThat(evalColumn(sharded, "step")).isEqualTo(evalColumn(single, "step"));
    }

    @Test
    void aRunStoppedOnTwoRanksGoesOnWithTwoAndWithThree() throws Exception {
        Path straight = tmp.resolve("straight");
        try (TrainingRun run = TrainingRun.start(spec(straight, Architecture.BATCHTOPK, 30, null, RunListener.NONE))) {
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
                    try (TrainingRun run = TrainingRun.start(spec(stopped, Architecture.BATCHTOPK, 30, group, crash))) {
                        return run.train();
                    }
                }))
                .hasStackTraceContaining("crash at step 15");
        assertThat(column(stopped, "step")).hasSize(15);
        Path copy = tmp.resolve("stopped-copy");
        copyTree(stopped, copy);

        List<RunResult> two = onRanks(2, group -> {
            try (TrainingRun run =
                    TrainingRun.resume(spec(stopped, Architecture.BATCHTOPK, 30, group, RunListener.NONE), false)) {
                return run.train();
            }
        });
        assertThat(two.getFirst().tokensThisRun()).isEqualTo(20 * BATCH);
        assertCloseTensors(stopped.resolve(SaeLens.WEIGHTS_FILE), straight.resolve(SaeLens.WEIGHTS_FILE), 2e-5);
        assertThat(column(stopped, "step")).isEqualTo(column(straight, "step"));
        assertThat(column(stopped, "l0")).isEqualTo(column(straight, "l0"));

        // From run.json alone: the sharded checkpoint makes the run go on latent-sharded.
        onRanks(3, group -> {
            try (TrainingRun run = TrainingRun.resume(copy, RunListener.NONE, group)) {
                return run.train();
            }
        });
        assertCloseTensors(copy.resolve(SaeLens.WEIGHTS_FILE), straight.resolve(SaeLens.WEIGHTS_FILE), 2e-5);
        assertThat(column(copy, "dead")).isEqualTo(column(straight, "dead"));
    }

    @Test
    void aShardedCheckpointIsNotResumedAsOneSae() throws Exception {
        data(); // written once, before the ranks read it
        Path stopped = tmp.resolve("stopped");
        RunListener crash = p -> {
            if (p.step() == 12) {
                throw new IllegalStateException("crash at step 12");
            }
        };
        assertThatThrownBy(() -> onRanks(2, group -> {
                    try (TrainingRun run = TrainingRun.start(spec(stopped, Architecture.BATCHTOPK, 30, group, crash))) {
                        return run.train();
                    }
                }))
                .hasStackTraceContaining("crash at step 12");
        assertThatThrownBy(() -> TrainingRun.resume(stopped))
                .isInstanceOf(TrainingException.class)
                .hasMessageContaining("its checkpoint is latent-sharded (shards.json)");
    }

    @Test
    void architecturesTheShardsCannotTrainAreRefusedBeforeTheDirectoryChanges() throws Exception {
        data();
        Path out = tmp.resolve("jumprelu");
        assertThatThrownBy(() -> onRanks(2, group -> {
                    try (TrainingRun run =
                            TrainingRun.start(spec(out, Architecture.JUMPRELU, 5, group, RunListener.NONE))) {
                        return run.train();
                    }
                }))
                .hasStackTraceContaining(
                        "latent-sharded training supports the batchtopk and topk architectures, not jumprelu");
        assertThat(out).doesNotExist();
    }

    private static List<Object> evalColumn(Path run, String key) throws IOException {
        List<Object> values = new java.util.ArrayList<>();
        for (String line : Files.readAllLines(run.resolve(EvalLog.FILE))) {
            values.add(((java.util.Map<?, ?>) ai.batchtopk.io.JsonCodec.parse(line)).get(key));
        }
        return values;
    }
}
