package ai.batchtopk.training;

import static org.assertj.core.api.Assertions.assertThat;

import ai.batchtopk.io.DType;
import ai.batchtopk.io.Npy;
import ai.batchtopk.io.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Each error says what is wrong and where: no "try a smaller --lr" for data of width 1, no bare "Is a
 * directory", "Input length = 1" or "No such device" without the path.
 */
class ClearMessagesTest {
    @TempDir
    static Path shared;

    static Path data;
    static Path sae;

    @BeforeAll
    static void run() {
        Cli.Run synth =
                Cli.run("synth", "--out", shared.resolve("toy"), "--d-in", 16, "--features", 24, "--tokens", 1000);
        assertThat(synth.code()).as("%s", synth).isZero();
        data = shared.resolve("toy").resolve(SynthCommand.ACTIVATIONS);
        sae = shared.resolve("sae");
        Cli.Run train = Cli.run(
                "train", "--data", data, "--d-sae", 32, "--k", 4, "--batch-size", 64, "--steps", 2, "--out", sae);
        assertThat(train.code()).as("%s", train).isZero();
    }

    @TempDir
    Path tmp;

    private static void assertError(Cli.Run run, int code, String... fragments) {
        assertThat(run.code()).as("%s", run).isEqualTo(code);
        assertThat(run.err().lines().toList()).as("%s", run).hasSize(1);
        assertThat(run.err()).startsWith("error: ").contains(fragments);
    }

    @Test
    void cudaOptionsSayWhatIsMissing() {
        Object[] base = {"train", "--data", data, "--d-sae", 32, "--k", 4, "--batch-size", 64, "--steps", 2};
        Cli.Run precision = Cli.run(java.util.stream.Stream.concat(
                        java.util.Arrays.stream(base),
                        java.util.stream.Stream.of("--out", tmp.resolve("a"), "--gpu-precision", "fp32"))
                .toArray());
        assertError(precision, Main.FAILURE, "--gpu-precision applies to --device cuda only");
        if (!ai.batchtopk.NativeLibrary.cudaAvailable()) {
            Cli.Run cuda = Cli.run(java.util.stream.Stream.concat(
                            java.util.Arrays.stream(base),
                            java.util.stream.Stream.of("--out", tmp.resolve("b"), "--device", "cuda"))
                    .toArray());
            assertThat(cuda.err()).containsAnyOf("this build has no CUDA", "no CUDA device");
            assertError(cuda, Main.FAILURE, "--device cuda: ");
        }
    }

    @Test
    void perTokenNormalisationOfOneValuePerRowIsRefusedUpFront() throws IOException {
        Path narrow = tmp.resolve("narrow.npy");
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = Tensor.allocate(DType.F32, new long[] {100, 1}, arena);
            for (int i = 0; i < 100; i++) {
                t.data().setAtIndex(Tensor.F32_LE, i, i % 7);
            }
            Npy.write(narrow, t);
        }
        Object[] args = {
            "train",
            "--data",
            narrow,
            "--d-sae",
            8,
            "--k",
            2,
            "--batch-size",
            10,
            "--steps",
            5,
            "--out",
            tmp.resolve("out")
        };
        Cli.Run run = Cli.run(args);
        assertError(run, Main.USAGE, "normalization per-token needs d_in >= 2, got d_in = 1", "use normalization none");
        assertThat(run.err()).doesNotContain("--lr");
        Object[] none = java.util.stream.Stream.concat(
                        java.util.Arrays.stream(args), java.util.stream.Stream.of("--normalize", "none"))
                .toArray();
        assertThat(Cli.run(none).code()).isZero();
    }

    @Test
    void aDirectoryWhereAFileIsExpectedIsNamed() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("a-directory"));
        assertError(
                Cli.run("eval", "--sae", sae, "--data", data, "--dictionary", dir),
                Main.FAILURE,
                dir + ": is a directory, not a file");
        Path cfgDir = Files.createDirectories(tmp.resolve("sae").resolve("cfg.json"));
        assertError(
                Cli.run("eval", "--sae", tmp.resolve("sae"), "--data", data),
                Main.FAILURE,
                cfgDir + ": is a directory, not a file");
        assertError(
                Cli.run("report", "--run", sae, "--data", data, "--tokens", dir),
                Main.FAILURE,
                "token table " + dir + " is a directory");
    }

    @Test
    void invalidUtf8IsNamedWithTheFileAndTheLine() throws IOException {
        Path tokens = tmp.resolve("tokens.tsv");
        Files.write(tokens, "0\t0\tthe\n0\t1\tcaf\u00e9\n".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        assertError(
                Cli.run("report", "--run", sae, "--data", data, "--tokens", tokens),
                Main.FAILURE,
                tokens + ": is not valid UTF-8 text: line 2, byte offset 15 (0xE9)");

        Path latin = Files.createDirectories(tmp.resolve("latin"));
        Files.copy(sae.resolve("sae_weights.safetensors"), latin.resolve("sae_weights.safetensors"));
        Files.write(
                latin.resolve("cfg.json"),
                Files.readString(sae.resolve("cfg.json"))
                        .replace("{", "{\"note\": \"caf\u00e9\", ")
                        .getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        assertError(
                Cli.run("eval", "--sae", latin, "--data", data),
                Main.FAILURE,
                latin.resolve("cfg.json") + ": is not valid UTF-8 text: line 1");
    }

    @Test
    void filesThatCannotBeMappedAreNamed() throws Exception {
        Path fifo = tmp.resolve("fifo.npy");
        Process mkfifo = new ProcessBuilder("mkfifo", fifo.toString()).start();
        org.junit.jupiter.api.Assumptions.assumeTrue(mkfifo.waitFor() == 0, "mkfifo is not available");
        // Opening a FIFO would wait for a writer forever: refused before that.
        assertError(
                Cli.run("eval", "--sae", sae, "--data", data, "--dictionary", fifo),
                Main.FAILURE,
                fifo + ": is not a regular file");
        Path sys = Path.of("/sys/kernel/mm/transparent_hugepage/enabled");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isRegularFile(sys), "no " + sys + " here");
        assertError(Cli.run("eval", "--sae", sae, "--data", sys), Main.FAILURE, sys + ": cannot be memory-mapped");
    }
}
