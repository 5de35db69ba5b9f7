package ai.batchtopk.training;

import static org.assertj.core.api.Assertions.assertThat;

import ai.batchtopk.Checkpoint;
import ai.batchtopk.io.DType;
import ai.batchtopk.io.Npy;
import ai.batchtopk.io.Tensor;
import ai.batchtopk.train.MetricsLog;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Data a run cannot use: a NaN late in the training data (the run stops, saved, naming the file and
 * row, and goes on once the row is fixed), a NaN in held-out or evaluated data, and data with no
 * variance (NMSE undefined), which {@code eval} used to print as -4e15 or null with exit 0.
 */
class BadDataTest {
    static final int D = 8;

    @TempDir
    Path tmp;

    /** {@code rows x D} seeded normal floats (F32 or F64), with {@code bad} at (row, column) 3 when row >= 0. */
    static Path write(Path file, DType dtype, int rows, long seed, int badRow, double bad) throws IOException {
        SplittableRandom random = new SplittableRandom(seed);
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = Tensor.allocate(dtype, new long[] {rows, D}, arena);
            for (int i = 0; i < rows * D; i++) {
                double v = i == badRow * D + 3 ? bad : random.nextGaussian();
                if (dtype == DType.F64) {
                    t.data().setAtIndex(ValueLayout.JAVA_DOUBLE, i, v);
                } else {
                    t.data().setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) v);
                }
            }
            Npy.write(file, t);
        }
        return file;
    }

    static Path constant(Path file, DType dtype, int rows, double value) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = Tensor.allocate(dtype, new long[] {rows, D}, arena);
            for (int i = 0; i < rows * D; i++) {
                if (dtype == DType.F64) {
                    t.data().setAtIndex(ValueLayout.JAVA_DOUBLE, i, value);
                } else {
                    t.data().setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) value);
                }
            }
            Npy.write(file, t);
        }
        return file;
    }

    private static List<Object> trainArgs(Path a, Path b, String mode, Path out) {
        List<Object> args = new ArrayList<>(List.of(
                "train",
                "--data",
                a,
                "--data",
                b,
                "--d-sae",
                32,
                "--k",
                4,
                "--batch-size",
                50,
                "--steps",
                30,
                "--seed",
                4,
                "--lr-decay",
                "linear",
                "--out",
                out));
        switch (mode) {
            case "sequential" -> args.addAll(List.of("--no-shuffle", "--prefetch", 0));
            case "shuffled" -> args.addAll(List.of("--prefetch", 2));
            case "windowed" -> args.addAll(List.of("--shuffle-buffer", 64, "--prefetch", 1));
            default -> throw new IllegalArgumentException(mode);
        }
        return args;
    }

    @ParameterizedTest
    @ValueSource(strings = {"sequential", "shuffled", "windowed"})
    void aNanInTheTrainingDataNamesItsFileAndRowSavesTheRunAndTheFixedRunGoesOnExactly(String mode) throws IOException {
        // 300 + 200 rows, 10 batches an epoch; the NaN is row 150 of the second file (row 450 of the whole).
        Path a = write(tmp.resolve("a.npy"), DType.F32, 300, 1, -1, 0);
        Path b = write(tmp.resolve("b.npy"), DType.F32, 200, 2, 150, Double.NaN);
        Path out = tmp.resolve("run");
        Cli.Run failed = Cli.run(trainArgs(a, b, mode, out).toArray());
        assertThat(failed.code()).as("%s", failed).isEqualTo(Main.FAILURE);
        assertThat(failed.err())
                .startsWith("error: row 150 (0-based) of " + b + " holds NaN in column 3 (in the batch of step ")
                .contains("Saved the SAE as of step")
                .contains("--resume " + out + " and --allow-changed-data");
        Matcher m = Pattern.compile("in the batch of step (\\d+)\\)").matcher(failed.err());
        assertThat(m.find()).isTrue();
        long step = Long.parseLong(m.group(1));
        if (mode.equals("sequential")) {
            assertThat(step).isEqualTo(10); // rows 450..499
        }
        try (Checkpoint.Loaded saved = Checkpoint.resume(out)) {
            assertThat(saved.extra().get("batchtopk.run.steps")).isEqualTo(Long.toString(step - 1));
        }
        assertThat(Files.readAllLines(out.resolve(MetricsLog.FILE))).hasSize((int) step - 1);

        // The row fixed: the data changed, so --resume wants to be told; then it ends as a run on the fixed data.
        write(b, DType.F32, 200, 2, 150, 0.25);
        Cli.Run refused = Cli.run("train", "--resume", out);
        assertThat(refused.code()).isEqualTo(Main.FAILURE);
        assertThat(refused.err())
                .contains("the data changed since the checkpoint")
                .contains(b.toString());
        Cli.Run resumed = Cli.run("train", "--resume", out, "--allow-changed-data");
        assertThat(resumed.code()).as("%s", resumed).isZero();
        assertThat(resumed.err()).contains("warning: ").contains(b.toString());
        Path straight = tmp.resolve("straight");
        Cli.Run whole = Cli.run(trainArgs(a, b, mode, straight).toArray());
        assertThat(whole.code()).as("%s", whole).isZero();
        TrainingRunTest.assertSameState(out, straight);
    }

    @Test
    void aNanAtTheVeryFirstStepSavesTheUntrainedSaeSoTheRunCanStillGoOn() throws IOException {
        Path a = write(tmp.resolve("a.npy"), DType.F32, 300, 1, 7, Double.POSITIVE_INFINITY);
        Path b = write(tmp.resolve("b.npy"), DType.F32, 200, 2, -1, 0);
        Path out = tmp.resolve("run");
        Cli.Run failed = Cli.run(trainArgs(a, b, "sequential", out).toArray());
        assertThat(failed.code()).isEqualTo(Main.FAILURE);
        assertThat(failed.err())
                .contains("row 7 (0-based) of " + a + " holds Infinity in column 3 (in the batch of step 1)")
                .contains("as of step 0");
        write(a, DType.F32, 300, 1, -1, 0);
        Cli.Run resumed = Cli.run("train", "--resume", out, "--allow-changed-data");
        assertThat(resumed.code()).as("%s", resumed).isZero();
        assertThat(resumed.json().get("step")).isEqualTo(30L);
    }

    @Test
    void aNanInTheHeldOutRowsIsRefusedBeforeTheRunStarts() throws IOException {
        Path data = write(tmp.resolve("a.npy"), DType.F32, 300, 1, -1, 0);
        Path held = write(tmp.resolve("held.npy"), DType.F32, 100, 3, 40, Double.NaN);
        Path out = tmp.resolve("run");
        Cli.Run run = Cli.run(
                "train",
                "--data",
                data,
                "--eval-data",
                held,
                "--d-sae",
                32,
                "--k",
                4,
                "--batch-size",
                50,
                "--steps",
                5,
                "--out",
                out);
        assertThat(run.code()).isEqualTo(Main.FAILURE);
        assertThat(run.err())
                .isEqualTo("error: --eval-data: row 40 (0-based) of " + held
                        + " holds NaN in column 3; evaluation needs finite activations\n");
        assertThat(out).doesNotExist();
        // Past the rows evaluated on (--eval-tokens), it does not matter.
        Cli.Run fewer = Cli.run(
                "train",
                "--data",
                data,
                "--eval-data",
                held,
                "--eval-tokens",
                40,
                "--d-sae",
                32,
                "--k",
                4,
                "--batch-size",
                50,
                "--steps",
                5,
                "--out",
                out);
        assertThat(fewer.code()).as("%s", fewer).isZero();
    }

    @Test
    void heldOutRowsWithoutVarianceAreRefusedBeforeTheRunStarts() throws IOException {
        Path data = write(tmp.resolve("a.npy"), DType.F32, 300, 1, -1, 0);
        Path held = constant(tmp.resolve("held.npy"), DType.F32, 100, 0.5);
        Path out = tmp.resolve("run");
        Cli.Run run = Cli.run(
                "train",
                "--data",
                data,
                "--eval-data",
                held,
                "--d-sae",
                32,
                "--k",
                4,
                "--batch-size",
                50,
                "--steps",
                5,
                "--out",
                out);
        assertThat(run.code()).isEqualTo(Main.FAILURE);
        assertThat(run.err())
                .contains("the first 100 rows of --eval-data")
                .contains("have no variance")
                .contains("every column is constant");
        assertThat(out).doesNotExist();
    }

    // ------------------------------------------------------------------------------------------ eval

    private Path trainedSae() throws IOException {
        Path data = write(tmp.resolve("train.npy"), DType.F32, 400, 1, -1, 0);
        Path sae = tmp.resolve("sae");
        Cli.Run run = Cli.run(
                "train", "--data", data, "--d-sae", 32, "--k", 4, "--batch-size", 50, "--steps", 10, "--out", sae);
        assertThat(run.code()).as("%s", run).isZero();
        return sae;
    }

    @Test
    void evalNamesTheFileAndRowOfANan() throws IOException {
        Path sae = trainedSae();
        Path a = write(tmp.resolve("a.npy"), DType.F32, 300, 1, -1, 0);
        Path b = write(tmp.resolve("b.npy"), DType.F32, 200, 2, 150, Double.NEGATIVE_INFINITY);
        Cli.Run run = Cli.run("eval", "--sae", sae, "--data", a, "--data", b, "--batch-size", 64);
        assertThat(run.code()).isEqualTo(Main.FAILURE);
        assertThat(run.out()).isEmpty();
        assertThat(run.err())
                .isEqualTo("error: row 150 (0-based) of " + b
                        + " holds -Infinity in column 3; evaluation needs finite activations\n");
    }

    @Test
    void evalRefusesDataWithoutVarianceOrWithOverflowingSquares() throws IOException {
        Path sae = trainedSae();
        Path one = write(tmp.resolve("one.npy"), DType.F32, 1, 5, -1, 0);
        Path zeros = constant(tmp.resolve("zeros.npy"), DType.F32, 100, 0);
        Path constant = constant(tmp.resolve("constant.npy"), DType.F32, 100, 0.1);
        Path huge = constant(tmp.resolve("huge.npy"), DType.F64, 100, 1e300);
        Path hugeVaried = write(tmp.resolve("huge_varied.npy"), DType.F64, 100, 6, 10, 1e300);
        for (Object[] c : new Object[][] {
            {one, "a single row"},
            {zeros, "every column is constant over its 100 rows"},
            {constant, "every column is constant"},
            {huge, "no variance"},
            {hugeVaried, "too large to square"}
        }) {
            Cli.Run run = Cli.run("eval", "--sae", sae, "--data", c[0]);
            assertThat(run.code()).as("%s: %s", c[0], run).isEqualTo(Main.FAILURE);
            assertThat(run.out()).isEmpty();
            assertThat(run.err())
                    .as("%s", c[0])
                    .startsWith("error: cannot evaluate on " + c[0])
                    .contains((String) c[1]);
        }
        // Two rows are enough.
        Path two = write(tmp.resolve("two.npy"), DType.F32, 2, 5, -1, 0);
        Cli.Run run = Cli.run("eval", "--sae", sae, "--data", two);
        assertThat(run.code()).as("%s", run).isZero();
        assertThat(((Number) run.json().get("nmse")).doubleValue()).isFinite().isPositive();
        assertThat(Arrays.asList(run.json().keySet().toArray())).contains("nmse", "explained_variance");
    }
}
