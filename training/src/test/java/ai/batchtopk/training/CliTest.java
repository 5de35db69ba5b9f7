package ai.batchtopk.training;

import static org.assertj.core.api.Assertions.assertThat;

import ai.batchtopk.Sae;
import ai.batchtopk.SaeConfig;
import ai.batchtopk.SaeLens;
import ai.batchtopk.io.DType;
import ai.batchtopk.io.JsonCodec;
import ai.batchtopk.io.Npy;
import ai.batchtopk.io.Safetensors;
import ai.batchtopk.io.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import org.assertj.core.data.Percentage;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The command line end to end, in this JVM: synthetic data, training, evaluation, resuming, and the
 * error of each way a run can be wrong. Runs are small (d = 32, a few hundred steps at most).
 */
class CliTest {
    static final int D = 32;
    static final int SMALL_ROWS = 1000;
    static final long ROW_BYTES = D * Float.BYTES;

    @TempDir
    static Path shared;

    /** synth output: 16384 tokens of 48 features in superposition in d = 32. */
    static Path toy;
    /** The first 1000 rows of the toy data, and the same rows split into two files (600 + 400). */
    static Path small;

    static Path smallA;
    static Path smallB;

    @TempDir
    Path tmp;

    @BeforeAll
    static void data() throws IOException {
        toy = shared.resolve("toy");
        Cli.Run synth = Cli.run("synth", "--out", toy, "--d-in", D, "--features", 48, "--tokens", 16384, "--seed", 1);
        assertThat(synth.code()).as("%s", synth).isZero();
        assertThat(synth.json().get("tokens")).isEqualTo(16384L);
        small = shared.resolve("small.npy");
        smallA = shared.resolve("small_a.npy");
        smallB = shared.resolve("small_b.npy");
        try (Arena arena = Arena.ofConfined()) {
            Tensor all = Npy.map(activations(), arena);
            assertThat(all.shape()).containsExactly(16384, D);
            Npy.write(small, rows(all, 0, SMALL_ROWS));
            Npy.write(smallA, rows(all, 0, 600));
            Npy.write(smallB, rows(all, 600, 400));
        }
    }

    static Path activations() {
        return toy.resolve(SynthCommand.ACTIVATIONS);
    }

    static Tensor rows(Tensor all, long first, long count) {
        return new Tensor(all.dtype(), new long[] {count, D}, all.data().asSlice(first * ROW_BYTES, count * ROW_BYTES));
    }

    // ---------------------------------------------------------------------------------- training

    @Test
    void trainsAnSaeThatRecoversTheDictionary() {
        Path out = tmp.resolve("sae");
        Cli.Run train = Cli.run(
                "train",
                "--data",
                activations(),
                "--arch",
                "batchtopk",
                "--d-sae",
                128,
                "--k",
                4,
                "--batch-size",
                256,
                "--steps",
                400,
                "--lr",
                5e-3,
                "--normalize",
                "none",
                "--seed",
                2,
                "--out",
                out);
        assertThat(train.code()).as("%s", train).isZero();
        assertThat(train.err()).isEmpty();
        Map<String, Object> summary = train.json();
        assertThat(summary.get("step")).isEqualTo(400L);
        assertThat(summary.get("tokens")).isEqualTo(400L * 256);
        assertThat(summary.get("out"))
                .isEqualTo(out.toAbsolutePath().normalize().toString());
        assertThat(out.resolve("cfg.json")).exists();
        assertThat(out.resolve("sae_weights.safetensors")).exists();
        assertThat(out.resolve("training_state.safetensors")).exists();
        assertThat(out.resolve("metrics.jsonl")).exists();

        Cli.Run eval = Cli.run(
                "eval", "--sae", out, "--data", activations(), "--dictionary", toy.resolve(SynthCommand.DICTIONARY));
        assertThat(eval.code()).as("%s", eval).isZero();
        Map<String, Object> result = eval.json();
        assertThat(result.keySet())
                .containsExactly("nmse", "explained_variance", "l0", "dead_fraction", "tokens", "dictionary_recovery");
        assertThat((Double) result.get("dictionary_recovery")).as("%s", result).isGreaterThan(0.9);
        assertThat((Double) result.get("explained_variance")).as("%s", result).isGreaterThan(0.85);
        assertThat(result.get("tokens")).isEqualTo(16384L);
    }

    @Test
    void metricsHaveOneLinePerStepWithEveryKey() throws IOException {
        Path out = tmp.resolve("sae");
        Cli.Run train = Cli.run(
                "train",
                "--data",
                small,
                "--d-sae",
                64,
                "--k",
                4,
                "--batch-size",
                100,
                "--steps",
                25,
                "--no-shuffle",
                "--out",
                out);
        assertThat(train.code()).as("%s", train).isZero();
        List<String> lines = Files.readAllLines(out.resolve("metrics.jsonl"));
        assertThat(lines).hasSize(25);
        for (int i = 0; i < lines.size(); i++) {
            @SuppressWarnings("unchecked")
            Map<String, Object> line = (Map<String, Object>) JsonCodec.parse(lines.get(i));
            assertThat(line.keySet())
                    .contains(
                            "step",
                            "tokens",
                            "loss",
                            "mse",
                            "aux_loss",
                            "l0",
                            "dead",
                            "theta",
                            "tokens_per_s",
                            "nmse",
                            "sparsity_loss",
                            "grad_norm",
                            "lr");
            assertThat(line.get("step")).isEqualTo(i + 1L);
            assertThat(line.get("tokens")).isEqualTo((i + 1L) * 100);
            assertThat(line.get("lr")).isEqualTo(3e-4);
        }
    }

    @Test
    void longRunsLogAboutTwoHundredLinesAndTheLastStep() throws IOException {
        Path out = tmp.resolve("sae");
        Cli.Run train = Cli.run(
                "train", "--data", small, "--d-sae", 32, "--k", 2, "--batch-size", 16, "--steps", 450, "--out", out);
        assertThat(train.code()).as("%s", train).isZero();
        List<String> lines = Files.readAllLines(out.resolve("metrics.jsonl"));
        // every 450 / 200 = 2 steps: 225 lines, the last one step 450.
        assertThat(lines).hasSize(225);
        assertThat(((Map<?, ?>) JsonCodec.parse(lines.getLast())).get("step")).isEqualTo(450L);
    }

    @Test
    void tokensAreRoundedUpToWholeBatches() {
        Cli.Run train = Cli.run(
                "train",
                "--data",
                small,
                "--d-sae",
                32,
                "--k",
                2,
                "--batch-size",
                100,
                "--tokens",
                250,
                "--out",
                tmp.resolve("sae"));
        assertThat(train.code()).as("%s", train).isZero();
        assertThat(train.json().get("step")).isEqualTo(3L);
        assertThat(train.json().get("tokens")).isEqualTo(300L);
    }

    @Test
    void withoutShuffleRunsRepeatAndMatchFeedingTheRowsInOrder() throws IOException {
        Object[] common = {
            "--d-sae", 64, "--k", 4, "--batch-size", 256, "--steps", 10, "--lr", 1e-3, "--seed", 7, "--no-shuffle"
        };
        Path first = tmp.resolve("first");
        Path second = tmp.resolve("second");
        Path split = tmp.resolve("split");
        assertThat(Cli.run(concat(new Object[] {"train", "--data", small, "--out", first}, common))
                        .code())
                .isZero();
        assertThat(Cli.run(concat(new Object[] {"train", "--data", small, "--out", second}, common))
                        .code())
                .isZero();
        // The same rows in two files: a batch then spans both, and the data wraps around (10 x 256 > 1000).
        Cli.Run two =
                Cli.run(concat(new Object[] {"train", "--data", smallA, "--data", smallB, "--out", split}, common));
        assertThat(two.code()).as("%s", two).isZero();

        byte[] direct =
                trainDirectly(SaeConfig.builder(D, 64).k(4).lr(1e-3).seed(7).build(), 256, 10);
        assertSameBytes(decoderBytes(first), direct, "first run vs the API");
        assertSameBytes(decoderBytes(second), direct, "second run vs the API");
        assertSameBytes(decoderBytes(split), direct, "two files vs the API");
    }

    /** The small file's rows in order, batch after batch, wrapping around, straight through the API. */
    private static byte[] trainDirectly(SaeConfig config, int batchSize, int steps) throws IOException {
        try (Arena arena = Arena.ofConfined();
                Sae sae = Sae.create(config)) {
            Tensor rows = Npy.map(small, arena);
            Tensor batch = Tensor.allocate(DType.F32, new long[] {batchSize, D}, arena);
            for (long step = 0; step < steps; step++) {
                for (long r = 0; r < batchSize; r++) {
                    long source = (step * batchSize + r) % SMALL_ROWS;
                    MemorySegment.copy(rows.data(), source * ROW_BYTES, batch.data(), r * ROW_BYTES, ROW_BYTES);
                }
                sae.trainStep(batch);
            }
            return sae.state("W_dec").data().toArray(ValueLayout.JAVA_BYTE);
        }
    }

    private static byte[] decoderBytes(Path saeDir) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            return Safetensors.open(saeDir.resolve(SaeLens.WEIGHTS_FILE), arena)
                    .get("W_dec")
                    .data()
                    .toArray(ValueLayout.JAVA_BYTE);
        }
    }

    /** Byte equality, reported by the first difference rather than by two kilobyte-long arrays. */
    private static void assertSameBytes(byte[] actual, byte[] expected, String what) {
        assertThat(actual.length).as(what + ": length").isEqualTo(expected.length);
        int mismatch = java.util.Arrays.mismatch(actual, expected);
        assertThat(mismatch).as(what + ": first differing byte of W_dec").isEqualTo(-1);
    }

    private static Object[] concat(Object[] a, Object[] b) {
        Object[] all = new Object[a.length + b.length];
        System.arraycopy(a, 0, all, 0, a.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }

    @Test
    void initContinuesARunExactly() throws IOException {
        Object[] common = {"--batch-size", 256, "--seed", 3, "--data", small};
        Path straight = tmp.resolve("straight");
        Path half = tmp.resolve("half");
        Path resumed = tmp.resolve("resumed");
        assertThat(Cli.run(concat(
                                new Object[] {"train", "--d-sae", 64, "--k", 4, "--steps", 12, "--out", straight},
                                common))
                        .code())
                .isZero();
        assertThat(Cli.run(concat(new Object[] {"train", "--d-sae", 64, "--k", 4, "--steps", 6, "--out", half}, common))
                        .code())
                .isZero();
        // No --arch, --d-sae or --k: they come from the checkpoint.
        Cli.Run resume =
                Cli.run(concat(new Object[] {"train", "--init", half, "--steps", 6, "--out", resumed}, common));
        assertThat(resume.code()).as("%s", resume).isZero();
        assertThat(resume.json().get("step")).isEqualTo(12L);
        assertThat(resume.json().get("tokens")).isEqualTo(12L * 256);

        List<String> lines = Files.readAllLines(resumed.resolve("metrics.jsonl"));
        assertThat(lines).hasSize(6);
        assertThat(((Map<?, ?>) JsonCodec.parse(lines.getFirst())).get("step")).isEqualTo(7L);
        // Same parameters, moments, counters, theta and shuffled data position: the very same run.
        assertSameBytes(decoderBytes(resumed), decoderBytes(straight), "6 + 6 resumed steps vs 12 steps");
    }

    @Test
    void initFromAnInferenceOnlyDirectoryStartsItsOptimizerAfresh() throws IOException {
        Path sae = tmp.resolve("sae");
        assertThat(Cli.run(
                                "train",
                                "--data",
                                small,
                                "--d-sae",
                                32,
                                "--k",
                                2,
                                "--batch-size",
                                50,
                                "--steps",
                                5,
                                "--out",
                                sae)
                        .code())
                .isZero();
        Files.delete(sae.resolve("training_state.safetensors"));
        Cli.Run again = Cli.run(
                "train",
                "--data",
                small,
                "--init",
                sae,
                "--batch-size",
                50,
                "--steps",
                3,
                "--out",
                tmp.resolve("again"));
        assertThat(again.code()).as("%s", again).isZero();
        assertThat(again.json().get("step")).isEqualTo(3L);
    }

    @Test
    void initInPlaceAppendsToTheMetricsLog() throws IOException {
        Path out = tmp.resolve("sae");
        assertThat(Cli.run(
                                "train",
                                "--data",
                                small,
                                "--d-sae",
                                32,
                                "--k",
                                2,
                                "--batch-size",
                                50,
                                "--steps",
                                5,
                                "--out",
                                out)
                        .code())
                .isZero();
        Cli.Run again = Cli.run(
                "train",
                "--data",
                small,
                "--init",
                out,
                "--k",
                2,
                "--batch-size",
                50,
                "--steps",
                5,
                "--lr",
                1e-3,
                "--out",
                out);
        assertThat(again.code()).as("%s", again).isZero();
        List<String> lines = Files.readAllLines(out.resolve("metrics.jsonl"));
        assertThat(lines).hasSize(10);
        assertThat(((Map<?, ?>) JsonCodec.parse(lines.getLast())).get("step")).isEqualTo(10L);
        assertThat(((Map<?, ?>) JsonCodec.parse(lines.getLast())).get("lr")).isEqualTo(1e-3);
    }

    @Test
    void naivePathTrainsLikeTheFusedOne() {
        Object[] common = {
            "train", "--data", small, "--d-sae", 64, "--k", 4, "--batch-size", 128, "--steps", 1, "--seed", 5
        };
        Cli.Run naive = Cli.run(concat(common, new Object[] {"--path", "naive", "--out", tmp.resolve("naive")}));
        Cli.Run fused = Cli.run(concat(common, new Object[] {"--path", "fused", "--out", tmp.resolve("fused")}));
        assertThat(naive.code()).as("%s", naive).isZero();
        assertThat(fused.code()).as("%s", fused).isZero();
        assertThat((Double) naive.json().get("loss"))
                .isCloseTo((Double) fused.json().get("loss"), Percentage.withPercentage(0.1));
    }

    @ParameterizedTest
    @ValueSource(strings = {"batchtopk", "topk", "jumprelu", "relu"})
    void everyArchitectureTrainsAndEvaluates(String architecture) {
        Path out = tmp.resolve(architecture);
        Cli.Run train = Cli.run(
                "train",
                "--data",
                small,
                "--arch",
                architecture,
                "--d-sae",
                64,
                "--k",
                4,
                "--batch-size",
                100,
                "--steps",
                5,
                "--out",
                out);
        assertThat(train.code()).as("%s", train).isZero();
        assertThat(train.json().get("step")).isEqualTo(5L);
        Cli.Run eval = Cli.run("eval", "--sae", out, "--data", small, "--batch-size", 300);
        assertThat(eval.code()).as("%s", eval).isZero();
        assertThat(eval.json().get("tokens")).isEqualTo((long) SMALL_ROWS);
    }

    @Test
    void bfloat16DataSavedAsRawV2Trains() throws IOException {
        Path bf16 = tmp.resolve("bf16.npy");
        try (Arena arena = Arena.ofConfined()) {
            Tensor f32 = Npy.map(small, arena);
            Tensor converted = Tensor.allocate(DType.BF16, f32.shape(), arena);
            for (long i = 0; i < f32.numel(); i++) {
                int bits = Float.floatToRawIntBits(f32.data().getAtIndex(Tensor.F32_LE, i));
                converted.data().setAtIndex(Tensor.I16_LE, i, (short) (bits >>> 16));
            }
            Npy.write(bf16, converted);
        }
        Cli.Run train = Cli.run(
                "train",
                "--data",
                bf16,
                "--d-sae",
                64,
                "--k",
                4,
                "--batch-size",
                100,
                "--steps",
                3,
                "--out",
                tmp.resolve("sae"));
        assertThat(train.code()).as("%s", train).isZero();
    }

    // ---------------------------------------------------------------------------------- errors

    /** Exactly one line on stderr, starting "error: " and containing every fragment; nothing on stdout. */
    private static void assertError(Cli.Run run, int code, String... fragments) {
        assertThat(run.code()).as("%s", run).isEqualTo(code);
        assertThat(run.out()).isEmpty();
        assertThat(run.err().lines().toList()).as("%s", run).hasSize(1);
        assertThat(run.err()).startsWith("error: ").contains(fragments);
    }

    @Test
    void aMissingDataFileIsNamed() {
        Path missing = tmp.resolve("missing.npy");
        assertError(
                Cli.run(
                        "train",
                        "--data",
                        missing,
                        "--d-sae",
                        64,
                        "--k",
                        4,
                        "--batch-size",
                        10,
                        "--steps",
                        1,
                        "--out",
                        tmp.resolve("sae")),
                Main.FAILURE,
                "data file not found",
                missing.toString());
    }

    @Test
    void dataOfAnotherWidthThanTheInitSaeIsRefused() throws IOException {
        Path sae = tmp.resolve("sae");
        assertThat(Cli.run(
                                "train",
                                "--data",
                                small,
                                "--d-sae",
                                64,
                                "--k",
                                4,
                                "--batch-size",
                                10,
                                "--steps",
                                1,
                                "--out",
                                sae)
                        .code())
                .isZero();
        Path narrow = tmp.resolve("narrow");
        assertThat(Cli.run("synth", "--out", narrow, "--d-in", 16, "--features", 8, "--tokens", 100)
                        .code())
                .isZero();
        assertError(
                Cli.run(
                        "train",
                        "--data",
                        narrow.resolve(SynthCommand.ACTIVATIONS),
                        "--init",
                        sae,
                        "--batch-size",
                        10,
                        "--steps",
                        1,
                        "--out",
                        tmp.resolve("out")),
                Main.FAILURE,
                "d = 16",
                "d_in = 32");
        assertError(
                Cli.run("eval", "--sae", sae, "--data", narrow.resolve(SynthCommand.ACTIVATIONS)),
                Main.FAILURE,
                "d = 16",
                "d_in = 32");
    }

    @Test
    void synthAgainReplacesThePairAndLeavesNoStagingBehind() throws IOException {
        Path out = tmp.resolve("pair");
        assertThat(Cli.run("synth", "--out", out, "--d-in", 8, "--features", 4, "--tokens", 50, "--seed", 1)
                        .code())
                .isZero();
        byte[] first = Files.readAllBytes(out.resolve(SynthCommand.DICTIONARY));
        assertThat(Cli.run("synth", "--out", out, "--d-in", 8, "--features", 4, "--tokens", 60, "--seed", 2)
                        .code())
                .isZero();
        assertThat(Files.readAllBytes(out.resolve(SynthCommand.DICTIONARY))).isNotEqualTo(first);
        try (var entries = Files.list(out)) {
            assertThat(entries.map(p -> p.getFileName().toString()).sorted().toList())
                    .containsExactly(SynthCommand.ACTIVATIONS, SynthCommand.DICTIONARY);
        }
    }

    @Test
    void aBatchLargerThanTheDataIsRefused() {
        assertError(
                Cli.run(
                        "train",
                        "--data",
                        small,
                        "--d-sae",
                        64,
                        "--k",
                        4,
                        "--batch-size",
                        1001,
                        "--steps",
                        1,
                        "--out",
                        tmp.resolve("sae")),
                Main.FAILURE,
                "--batch-size 1001",
                "larger than the data",
                "1000 rows");
    }

    @Test
    void anUnknownArchitectureIsAUsageError() {
        assertError(
                Cli.run(
                        "train",
                        "--data",
                        small,
                        "--arch",
                        "sparse",
                        "--d-sae",
                        64,
                        "--k",
                        4,
                        "--batch-size",
                        10,
                        "--steps",
                        1,
                        "--out",
                        tmp.resolve("sae")),
                Main.USAGE,
                "--arch",
                "unknown architecture 'sparse'");
    }

    @Test
    void kLargerThanDSaeIsAUsageError() {
        assertError(
                Cli.run(
                        "train",
                        "--data",
                        small,
                        "--d-sae",
                        8,
                        "--k",
                        9,
                        "--batch-size",
                        10,
                        "--steps",
                        1,
                        "--out",
                        tmp.resolve("sae")),
                Main.USAGE,
                "--k 9",
                "--d-sae 8");
    }

    @Test
    void integerDataIsRefused() throws IOException {
        Path ints = tmp.resolve("ints.npy");
        Npy.write(ints, Tensor.ofLongs(new long[] {4, 2}, 1, 2, 3, 4, 5, 6, 7, 8));
        assertError(
                Cli.run(
                        "train",
                        "--data",
                        ints,
                        "--d-sae",
                        8,
                        "--k",
                        2,
                        "--batch-size",
                        2,
                        "--steps",
                        1,
                        "--out",
                        tmp.resolve("sae")),
                Main.FAILURE,
                ints.toString(),
                "I64",
                "not a float type");
    }

    @Test
    void aTruncatedFileIsRefused() throws IOException {
        Path cut = tmp.resolve("cut.npy");
        Files.copy(small, cut);
        try (FileChannel channel = FileChannel.open(cut, StandardOpenOption.WRITE)) {
            channel.truncate(channel.size() - 100);
        }
        assertError(
                Cli.run(
                        "train",
                        "--data",
                        cut,
                        "--d-sae",
                        64,
                        "--k",
                        4,
                        "--batch-size",
                        10,
                        "--steps",
                        1,
                        "--out",
                        tmp.resolve("sae")),
                Main.FAILURE,
                cut.toString(),
                "truncated");
    }

    @Test
    void optionsThatContradictTheInitSaeAreUsageErrors() {
        Path sae = tmp.resolve("sae");
        assertThat(Cli.run(
                                "train",
                                "--data",
                                small,
                                "--d-sae",
                                64,
                                "--k",
                                4,
                                "--batch-size",
                                10,
                                "--steps",
                                1,
                                "--out",
                                sae)
                        .code())
                .isZero();
        assertError(
                Cli.run(
                        "train",
                        "--data",
                        small,
                        "--init",
                        sae,
                        "--d-sae",
                        128,
                        "--batch-size",
                        10,
                        "--steps",
                        1,
                        "--out",
                        tmp.resolve("out")),
                Main.USAGE,
                "--d-sae 128",
                "d_sae = 64");
        assertError(
                Cli.run(
                        "train",
                        "--data",
                        small,
                        "--init",
                        sae,
                        "--k",
                        8,
                        "--batch-size",
                        10,
                        "--steps",
                        1,
                        "--out",
                        tmp.resolve("out")),
                Main.USAGE,
                "--k 8",
                "k = 4");
    }

    @Test
    void anOutputDirectoryWithOtherFilesIsLeftAlone() throws IOException {
        Path out = tmp.resolve("precious");
        Files.createDirectories(out);
        Files.writeString(out.resolve("notes.txt"), "keep me");
        assertError(
                Cli.run(
                        "train",
                        "--data",
                        small,
                        "--d-sae",
                        64,
                        "--k",
                        4,
                        "--batch-size",
                        10,
                        "--steps",
                        1,
                        "--out",
                        out),
                Main.FAILURE,
                "notes.txt");
        assertThat(out.resolve("notes.txt")).hasContent("keep me");
    }

    @Test
    void usageErrorsExitWithTwo() {
        assertError(Cli.run(), Main.USAGE, "missing command", "train", "eval", "extract", "report", "synth", "info");
        assertError(
                Cli.run(
                        "train",
                        "--data",
                        small,
                        "--d-sae",
                        64,
                        "--k",
                        4,
                        "--batch-size",
                        10,
                        "--out",
                        tmp.resolve("sae")),
                Main.USAGE,
                "--steps",
                "--tokens");
        assertError(
                Cli.run("synth", "--out", tmp, "--d-in", 4, "--features", 2, "--tokens", 10, "--active", 3),
                Main.USAGE,
                "active = 3 exceeds features = 2");
    }

    @Test
    void dataOrTextIsOneChoiceOfTrainAndEval() {
        Path text = tmp.resolve("corpus.txt");
        Object[] rest = {"--d-sae", 64, "--k", 4, "--batch-size", 10, "--steps", 1, "--out", tmp.resolve("sae")};
        assertError(
                Cli.run(concat(new Object[] {"train", "--data", small, "--text", text, "--layer", 0}, rest)),
                Main.USAGE,
                "--data=FILE|DIR, --text=FILE|DIR are mutually exclusive (specify only one)");
        assertError(
                Cli.run(concat(new Object[] {"train"}, rest)),
                Main.USAGE,
                "Missing required argument (specify one of these): (--data=FILE|DIR [--data=FILE|DIR]... |"
                        + " --text=FILE|DIR [--text=FILE|DIR]...)");
        // Repeating one of them is still one choice.
        assertThat(Cli.run(concat(new Object[] {"train", "--data", small, "--data", small}, rest))
                        .code())
                .isZero();

        Path sae = tmp.resolve("sae");
        assertError(
                Cli.run("eval", "--sae", sae, "--data", small, "--text", text),
                Main.USAGE,
                "--data=FILE.npy, --text=FILE|DIR are mutually exclusive (specify only one)");
        assertError(
                Cli.run("eval", "--sae", sae),
                Main.USAGE,
                "Missing required argument (specify one of these): (--data=FILE.npy [--data=FILE.npy]... |"
                        + " --text=FILE|DIR [--text=FILE|DIR]...)");
    }

    @Test
    void debugAddsTheStackTrace() {
        Cli.Run run = Cli.run(
                "train",
                "--debug",
                "--data",
                tmp.resolve("missing.npy"),
                "--d-sae",
                64,
                "--k",
                4,
                "--batch-size",
                10,
                "--steps",
                1,
                "--out",
                tmp.resolve("sae"));
        assertThat(run.code()).isEqualTo(Main.FAILURE);
        assertThat(run.err()).startsWith("error: data file not found").contains("\tat ai.batchtopk.training.");
    }

    @Test
    void helpGoesToStdout() {
        Cli.Run help = Cli.run("train", "--help");
        assertThat(help.code()).isZero();
        assertThat(help.out()).contains("--data", "--batch-size", "--[no-]shuffle", "--init");
    }

    @Test
    void infoNamesTheLibrary() {
        Cli.Run info = Cli.run("info");
        assertThat(info.code()).as("%s", info).isZero();
        assertThat(info.out()).contains("batchtopk").contains("libbatchtopk");
    }
}
