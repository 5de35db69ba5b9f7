package ai.batchtopk.training;

import static ai.batchtopk.data.NumberedRows.numbered;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.batchtopk.data.DataPipeline;
import ai.batchtopk.io.Npy;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Sizes too large for this machine are refused before anything is allocated (so these tests allocate
 * nothing large): a usage error naming the option, the need and what is available.
 */
class ResourceLimitsTest {
    @TempDir
    static Path shared;

    static Path data;
    static Path sae;

    @BeforeAll
    static void data() {
        Cli.Run synth =
                Cli.run("synth", "--out", shared.resolve("toy"), "--d-in", 16, "--features", 24, "--tokens", 3000);
        assertThat(synth.code()).as("%s", synth).isZero();
        data = shared.resolve("toy").resolve(SynthCommand.ACTIVATIONS);
        sae = shared.resolve("sae");
        Cli.Run train = Cli.run(
                "train", "--data", data, "--d-sae", 32, "--k", 4, "--batch-size", 64, "--steps", 2, "--out", sae);
        assertThat(train.code()).as("%s", train).isZero();
    }

    @TempDir
    Path tmp;

    private static void assertUsageError(Cli.Run run, String... fragments) {
        assertThat(run.code()).as("%s", run).isEqualTo(Main.USAGE);
        assertThat(run.out()).isEmpty();
        assertThat(run.err().lines().toList()).as("%s", run).hasSize(1);
        assertThat(run.err()).startsWith("error: ").contains(fragments);
    }

    private Cli.Run train(Object... options) {
        List<Object> args = new java.util.ArrayList<>(
                List.of("train", "--data", data, "--k", 4, "--steps", 5, "--out", tmp.resolve("out")));
        args.addAll(List.of(options));
        return Cli.run(args.toArray());
    }

    @Test
    void aPrefetchRingLargerThanTheMemoryIsRefusedWithTheDepthThatFits() {
        // 10^8 + 1 buffers of 64 x 16 floats: 381 GiB.
        Cli.Run run = train("--d-sae", 32, "--batch-size", 64, "--prefetch", 100_000_000);
        assertUsageError(
                run,
                "--prefetch 100000000 asks for more memory than there is",
                "needs at least 381 GiB",
                "100000001 of 64 x 16 F32",
                "is available",
                "at most --prefetch ");
        assertThat(Files.exists(tmp.resolve("out"))).as("nothing was started").isFalse();
    }

    @Test
    void anSaeLargerThanTheMemoryIsRefusedNamingDSae() {
        Cli.Run run = train("--d-sae", 100_000_000_000L, "--batch-size", 64);
        assertUsageError(
                run,
                "--d-sae 100000000000 asks for more memory than there is",
                "weights and Adam moments 35 TiB (d 16 x d_sae 100000000000)",
                "give a smaller --d-sae");
    }

    @Test
    void aStepWorkspaceLargerThanTheMemoryIsRefusedNamingTheBatchSize() {
        // 3000 x 10^8 pre-activations (1.1 TiB) outweigh the weights (36 GiB).
        Cli.Run run = train("--d-sae", 100_000_000, "--batch-size", 3000);
        assertUsageError(
                run,
                "--batch-size 3000 asks for more memory than there is",
                "step workspace 1.1 TiB",
                "give a smaller --batch-size");
    }

    @Test
    void aSweepCountsEverySae() {
        // 6 x 16 x d_sae x 4 bytes each: 70 TiB and 35 TiB.
        Cli.Run run = train("--sweep", "d-sae=200000000000,100000000000", "--batch-size", 64);
        assertUsageError(
                run, "--d-sae 200000000000 asks for more memory", "the 2 SAEs' weights and Adam moments 105 TiB");
    }

    @Test
    void moreThreadsThanCoresAreRefusedByEveryCommand() {
        int cores = Runtime.getRuntime().availableProcessors();
        assertUsageError(
                train("--d-sae", 32, "--batch-size", 64, "--threads", cores + 1),
                "--threads " + (cores + 1) + " is more than the " + cores + " cores",
                "give at most --threads " + cores);
        assertUsageError(
                Cli.run("eval", "--sae", sae, "--data", data, "--threads", 100_000_000),
                "--threads 100000000 is more than the " + cores + " cores");
        assertUsageError(Cli.run("report", "--run", sae, "--threads", cores + 1), "--threads: threads " + (cores + 1));
    }

    @Test
    void synthRefusesDataLargerThanTheMemory() {
        // 10^12 rows of 16 floats: 58 TiB.
        Cli.Run run = Cli.run(
                "synth", "--out", tmp.resolve("toy"), "--d-in", 16, "--features", 24, "--tokens", 1_000_000_000_000L);
        assertUsageError(
                run, "--tokens 1000000000000 asks for more memory than there is", "take 58 TiB", "at most --tokens ");
        assertThat(Files.exists(tmp.resolve("toy"))).isFalse();
    }

    @Test
    void theLibraryRefusesAPrefetchRingLargerThanTheMemory() throws IOException {
        try (Arena arena = Arena.ofShared()) {
            Path file = tmp.resolve("rows.npy");
            Npy.write(file, numbered(0, 100, arena));
            assertThatThrownBy(() -> DataPipeline.open(
                            List.of(file), 50, DataPipeline.Order.SHUFFLED, 0, 2_000_000_000, 1, arena))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("a prefetch depth of 2000000000 needs 1.1 TiB")
                    .hasMessageContaining("is available");
        }
    }
}
