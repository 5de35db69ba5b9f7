package ai.batchtopk.training;

import static org.assertj.core.api.Assertions.assertThat;

import ai.batchtopk.Checkpoint;
import ai.batchtopk.SaeLens;
import ai.batchtopk.io.DType;
import ai.batchtopk.train.MetricsLog;
import ai.batchtopk.train.OutputDirectory;
import ai.batchtopk.train.RunFile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code train --out} at a directory that is not empty: refused unless {@code --overwrite} (or
 * {@code --resume}); {@code --overwrite} replaces a previous run as a whole and never touches a
 * directory holding anything else.
 */
class OutputDirectoryTest {
    @TempDir
    static Path shared;

    static Path data;

    @TempDir
    Path tmp;

    @BeforeAll
    static void data() throws IOException {
        data = BadDataTest.write(shared.resolve("data.npy"), DType.F32, 400, 1, -1, 0);
    }

    private static Cli.Run train(Path out, Object... more) {
        List<Object> args =
                new ArrayList<>(List.of("train", "--data", data, "--d-sae", 32, "--batch-size", 50, "--out", out));
        if (!List.of(more).contains("--steps")) {
            args.addAll(List.of("--steps", 6));
        }
        if (!List.of(more).contains("--sweep")) {
            args.addAll(List.of("--k", 4));
        }
        args.addAll(List.of(more));
        return Cli.run(args.toArray());
    }

    /** Every file under {@code dir} (relative path to content), to show nothing changed. */
    private static Map<String, String> snapshot(Path dir) throws IOException {
        Map<String, String> files = new LinkedHashMap<>();
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.filter(Files::isRegularFile).sorted().toList()) {
                files.put(dir.relativize(p).toString(), java.util.HexFormat.of().formatHex(Files.readAllBytes(p)));
            }
        }
        return files;
    }

    private static List<String> entries(Path dir) throws IOException {
        try (Stream<Path> list = Files.list(dir)) {
            return list.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void aFinishedRunIsNeitherReplacedNorMixedWithANewOne() throws IOException {
        Path out = tmp.resolve("run");
        assertThat(train(out).code()).isZero();
        Map<String, String> before = snapshot(out);
        Cli.Run again = train(out, "--lr", 1e-3);
        assertThat(again.code()).isEqualTo(Main.FAILURE);
        assertThat(again.err())
                .startsWith("error: --out " + out + " already holds a training run (")
                .contains("--resume " + out)
                .contains("--overwrite");
        assertThat(snapshot(out)).isEqualTo(before);
    }

    @Test
    void overwriteReplacesAWholeSweepWithTheNewRun() throws IOException {
        Path out = tmp.resolve("run");
        Cli.Run sweep = train(out, "--sweep", "k=2,4", "--eval-data", data, "--eval-every", 3);
        assertThat(sweep.code()).as("%s", sweep).isZero();
        Files.writeString(out.resolve("batchtopk-dsae32-k2").resolve("report.html"), "<html></html>");
        Cli.Run replaced = train(out, "--steps", 4, "--overwrite");
        assertThat(replaced.code()).as("%s", replaced).isZero();
        assertThat(entries(out))
                .containsExactlyInAnyOrder(
                        SaeLens.CONFIG_FILE,
                        SaeLens.WEIGHTS_FILE,
                        Checkpoint.STATE_FILE,
                        MetricsLog.FILE,
                        RunFile.FILE);
        assertThat(Files.readAllLines(out.resolve(MetricsLog.FILE))).hasSize(4);
        assertThat(Files.readString(out.resolve(RunFile.FILE))).doesNotContain("--overwrite");
        assertThat(entries(tmp)).containsExactly("run"); // nothing left beside it
        // The new run goes on as any other: --overwrite is not saved with its arguments.
        Cli.Run done = Cli.run("train", "--resume", out);
        assertThat(done.err()).contains("already complete");
    }

    @Test
    void overwriteNeverDeletesADirectoryHoldingAnythingElse() throws IOException {
        Path out = tmp.resolve("run");
        assertThat(train(out, "--sweep", "k=2,4").code()).isZero();
        Files.writeString(out.resolve("notes.txt"), "keep me");
        Map<String, String> before = snapshot(out);
        Cli.Run refused = train(out, "--overwrite");
        assertThat(refused.code()).isEqualTo(Main.FAILURE);
        assertThat(refused.err())
                .contains("holds files a training run does not write (notes.txt)")
                .contains("--overwrite only replaces a previous run");
        assertThat(snapshot(out)).isEqualTo(before);

        // Inside a sweep's SAE directory too, and a directory of something else altogether.
        Files.delete(out.resolve("notes.txt"));
        Files.createDirectories(out.resolve("batchtopk-dsae32-k4").resolve("mine"));
        Files.createDirectories(out.resolve("activations"));
        Files.writeString(out.resolve("activations").resolve("x.npy"), "...");
        Cli.Run nested = train(out, "--overwrite");
        assertThat(nested.code()).isEqualTo(Main.FAILURE);
        assertThat(nested.err()).contains("activations/").contains("batchtopk-dsae32-k4/");
        assertThat(out.resolve("activations").resolve("x.npy")).exists();
        assertThat(out.resolve(RunFile.FILE)).exists();
    }

    @Test
    void overwriteCannotDeleteTheInitSae() {
        Path out = tmp.resolve("run");
        assertThat(train(out).code()).isZero();
        Cli.Run run = Cli.run(
                "train", "--data", data, "--init", out, "--batch-size", 50, "--steps", 2, "--out", out, "--overwrite");
        assertThat(run.code()).isEqualTo(Main.USAGE);
        assertThat(run.err()).contains("--overwrite would delete the --init SAE");
        assertThat(out.resolve(Checkpoint.STATE_FILE)).exists();
    }

    @Test
    void anEmptyOrMissingDirectoryIsFineAndARefusedRunLeavesItAsItWas() throws IOException {
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        assertThat(train(empty).code()).isZero();
        // A run refused for its options writes nothing (no run.json that would block the next try).
        Path out = tmp.resolve("new");
        Cli.Run refused = Cli.run(
                "train", "--data", data, "--init", empty, "--k", 8, "--batch-size", 50, "--steps", 2, "--out", out);
        assertThat(refused.code()).isEqualTo(Main.USAGE);
        assertThat(out).doesNotExist();
    }

    @Test
    void anInterruptedCheckpointSwapBesideTheDirectoryCountsAsARun() throws IOException {
        Path out = tmp.resolve("run");
        assertThat(train(out).code()).isZero();
        // What a kill between a save's two renames leaves: the run only in run.incoming and run.previous.
        Path incoming = tmp.resolve("run.incoming");
        Files.move(out, incoming);
        Files.createDirectories(tmp.resolve("run.previous"));
        Files.copy(
                incoming.resolve(SaeLens.CONFIG_FILE),
                tmp.resolve("run.previous").resolve(SaeLens.CONFIG_FILE));
        Cli.Run refused = train(out);
        assertThat(refused.code()).isEqualTo(Main.FAILURE);
        assertThat(refused.err()).contains("already holds a training run (run.incoming, run.previous)");
        assertThat(incoming.resolve(Checkpoint.STATE_FILE)).exists();
        Cli.Run replaced = train(out, "--overwrite");
        assertThat(replaced.code()).as("%s", replaced).isZero();
        assertThat(entries(tmp)).containsExactly("run");
    }

    @Test
    void theLeftoverOfAnInterruptedOverwriteIsRemoved() throws IOException {
        Path out = tmp.resolve("run");
        assertThat(train(out).code()).isZero();
        Files.move(out, tmp.resolve("run" + OutputDirectory.REPLACED));
        assertThat(train(out).code()).isZero();
        assertThat(entries(tmp)).containsExactly("run");
        // Not if it holds anything a run does not write.
        Path other = tmp.resolve("other");
        Files.createDirectories(tmp.resolve("other" + OutputDirectory.REPLACED));
        Files.writeString(tmp.resolve("other" + OutputDirectory.REPLACED).resolve("notes.txt"), "keep me");
        assertThat(train(other).code()).isZero();
        assertThat(tmp.resolve("other" + OutputDirectory.REPLACED).resolve("notes.txt"))
                .exists();
    }
}
