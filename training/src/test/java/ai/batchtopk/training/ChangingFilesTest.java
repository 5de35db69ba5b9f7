package ai.batchtopk.training;

import static ai.batchtopk.data.NumberedRows.numbered;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.batchtopk.Sae;
import ai.batchtopk.SaeConfig;
import ai.batchtopk.data.ActivationData;
import ai.batchtopk.data.DataPosition;
import ai.batchtopk.data.NumberedRows;
import ai.batchtopk.data.RowStream;
import ai.batchtopk.data.SequentialBatches;
import ai.batchtopk.data.ShuffledBatches;
import ai.batchtopk.io.FileChangedException;
import ai.batchtopk.io.Npy;
import ai.batchtopk.train.EvalLog;
import ai.batchtopk.train.EvalSet;
import ai.batchtopk.train.MetricsLog;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Activation files truncated while a run reads them: an error naming the file, never a SIGBUS. In this
 * JVM for the readers (the truncation happens before the read, so nothing reaches native code); in a
 * child JVM for whole runs, where a crash would fail the test instead of the runner.
 */
class ChangingFilesTest {
    /** Rows of the numbered files: 2000 x 3 floats, several pages, so that a truncation makes pages go. */
    private static final int ROWS = 2000;

    @TempDir
    Path tmp;

    private static void truncate(Path file, long size) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(size);
        }
    }

    private ActivationData twoFiles(Arena arena) throws IOException {
        Npy.write(tmp.resolve("a.npy"), numbered(0, ROWS, arena));
        Npy.write(tmp.resolve("b.npy"), numbered(ROWS, ROWS, arena));
        return ActivationData.open(List.of(tmp.resolve("a.npy"), tmp.resolve("b.npy")), arena);
    }

    @Test
    void aViewForNativeCodeIsRefusedOnceItsFileWasTruncated() throws IOException {
        try (Arena arena = Arena.ofShared()) {
            ActivationData data = twoFiles(arena);
            SequentialBatches batches = new SequentialBatches(data, 100, DataPosition.START, arena);
            batches.next();
            truncate(tmp.resolve("a.npy"), 1000);
            assertThatThrownBy(batches::next)
                    .isInstanceOf(FileChangedException.class)
                    .hasMessageContaining(tmp.resolve("a.npy") + " changed while being read")
                    .hasMessageContaining("truncated");
        }
    }

    @Test
    void copiesForThePrefetchThreadNameTheTruncatedFile() throws IOException {
        try (Arena arena = Arena.ofShared()) {
            ActivationData data = twoFiles(arena);
            SequentialBatches sequential = new SequentialBatches(data, 100, new DataPosition(0, ROWS), arena);
            ShuffledBatches shuffled = new ShuffledBatches(data, 100, 3, DataPosition.START, arena);
            ShuffledBatches windowed =
                    new ShuffledBatches(data, 100, 3, 500, new DataPosition(0, 2 * ROWS - 500), arena);
            var out = arena.allocate(100 * data.rowBytes());
            sequential.fill(out);
            shuffled.fill(out);
            windowed.fill(out);
            truncate(tmp.resolve("b.npy"), 1000);
            for (RowStream stream : List.<RowStream>of(sequential, shuffled, windowed)) {
                assertThatThrownBy(() -> {
                            for (int i = 0; i < 2 * ROWS / 100; i++) {
                                stream.fill(out);
                            }
                        })
                        .as("%s", stream.getClass().getSimpleName())
                        .isInstanceOf(FileChangedException.class)
                        .hasMessageContaining(tmp.resolve("b.npy") + " changed while being read")
                        .hasMessageContaining("truncated");
            }
        }
    }

    @Test
    void evaluationCopiesItsRowsAndNamesTheTruncatedFile() throws IOException {
        try (Arena arena = Arena.ofShared();
                Sae sae = Sae.create(SaeConfig.builder(NumberedRows.D, 8).k(2).build())) {
            ActivationData data = twoFiles(arena);
            try (EvalSet eval = new EvalSet(data, 2 * ROWS)) {
                assertThat(eval.evaluate(sae).tokens()).isEqualTo(2 * ROWS);
                truncate(tmp.resolve("b.npy"), 1000);
                assertThatThrownBy(() -> eval.evaluate(sae))
                        .isInstanceOf(FileChangedException.class)
                        .hasMessageContaining(tmp.resolve("b.npy").toString())
                        .hasMessageContaining("truncated");
            }
        }
    }

    /** Runs the command line in a child JVM; returns its exit code and output once {@code whileRunning} is done. */
    private Cli.Run child(List<Object> args, Path watch, ThrowingAction whileRunning) throws Exception {
        List<String> command = new ArrayList<>(List.of(
                ProcessHandle.current().info().command().orElseThrow(),
                "--enable-native-access=ALL-UNNAMED",
                "-Dbatchtopk.test.step-delay-ms=20",
                "-cp",
                System.getProperty("java.class.path")));
        String library = System.getProperty("batchtopk.library");
        if (library != null && !library.isBlank()) {
            command.add("-Dbatchtopk.library=" + library);
        }
        command.add(Main.class.getName());
        args.forEach(a -> command.add(String.valueOf(a)));
        Path out = tmp.resolve("child.out");
        Path err = tmp.resolve("child.err");
        Process process = new ProcessBuilder(command)
                .directory(tmp.toFile())
                .redirectOutput(out.toFile())
                .redirectError(err.toFile())
                .start();
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (System.nanoTime() < deadline
                && process.isAlive()
                && !(Files.exists(watch) && Files.readAllLines(watch).size() >= 5)) {
            Thread.sleep(20);
        }
        assertThat(process.isAlive())
                .as("the child runs (stderr: %s)", Files.readString(err))
                .isTrue();
        whileRunning.run();
        boolean ended = process.waitFor(60, TimeUnit.SECONDS);
        if (!ended) {
            process.destroyForcibly();
        }
        assertThat(ended).as("the child stopped after the file changed").isTrue();
        try (Stream<Path> files = Files.list(tmp)) {
            assertThat(files.map(p -> p.getFileName().toString()))
                    .as("no JVM crash report")
                    .noneMatch(n -> n.startsWith("hs_err"));
        }
        return new Cli.Run(process.exitValue(), Files.readString(out), Files.readString(err));
    }

    @FunctionalInterface
    private interface ThrowingAction {
        void run() throws Exception;
    }

    /** 40000 rows of d = 16 synthetic activations (2.5 MB). */
    private Path synth(String name) {
        Cli.Run synth = Cli.run("synth", "--out", tmp.resolve(name), "--d-in", 16, "--features", 24, "--tokens", 40000);
        assertThat(synth.code()).as("%s", synth).isZero();
        return tmp.resolve(name).resolve(SynthCommand.ACTIVATIONS);
    }

    @Test
    void aTrainingRunWhoseDataIsTruncatedStopsWithAnErrorNamingTheFile() throws Exception {
        Path data = synth("data");
        Path out = tmp.resolve("run");
        Cli.Run run = child(
                List.of(
                        "train",
                        "--data",
                        data,
                        "--d-sae",
                        32,
                        "--k",
                        4,
                        "--batch-size",
                        64,
                        "--steps",
                        100000,
                        "--prefetch",
                        2,
                        "--log-every",
                        1,
                        "--out",
                        out),
                out.resolve(MetricsLog.FILE),
                () -> truncate(data, 4096));
        assertThat(run.code()).as("%s", run).isEqualTo(Main.FAILURE);
        assertThat(run.err().strip())
                .as("%s", run)
                .startsWith("error: ")
                .contains(data + " changed while being read")
                .contains("(truncated)");
    }

    @Test
    void aRunWhoseEvaluationDataIsTruncatedStopsWithAnErrorNamingIt() throws Exception {
        Path data = synth("data");
        Path held = synth("held");
        Path out = tmp.resolve("run");
        Cli.Run run = child(
                List.of(
                        "train",
                        "--data",
                        data,
                        "--d-sae",
                        32,
                        "--k",
                        4,
                        "--batch-size",
                        64,
                        "--steps",
                        100000,
                        "--prefetch",
                        0,
                        "--eval-data",
                        held,
                        "--eval-every",
                        1,
                        "--eval-tokens",
                        40000,
                        "--log-every",
                        1,
                        "--out",
                        out),
                out.resolve(EvalLog.FILE),
                () -> truncate(held, 4096));
        assertThat(run.code()).as("%s", run).isEqualTo(Main.FAILURE);
        assertThat(run.err().strip())
                .as("%s", run)
                .startsWith("error: ")
                .contains(held + " changed while being read")
                .contains("(truncated)");
    }
}
