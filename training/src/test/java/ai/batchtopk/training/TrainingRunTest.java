package ai.batchtopk.training;

import static org.assertj.core.api.Assertions.assertThat;

import ai.batchtopk.Checkpoint;
import ai.batchtopk.io.JsonCodec;
import ai.batchtopk.io.Safetensors;
import ai.batchtopk.io.SafetensorsFile;
import ai.batchtopk.io.Tensor;
import ai.batchtopk.train.EvalLog;
import ai.batchtopk.train.MetricsLog;
import ai.batchtopk.train.OutputDirectory;
import ai.batchtopk.train.RunFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Whole runs: kill and resume, sweeps, evaluation, schedules, failing checkpoint writes. */
class TrainingRunTest {
    @TempDir
    static Path shared;

    static Path train;
    static Path held;

    @TempDir
    Path tmp;

    @BeforeAll
    static void data() {
        Cli.Run synth = Cli.run(
                "synth", "--out", shared.resolve("toy"), "--d-in", 16, "--features", 24, "--tokens", 3000, "--seed", 5);
        assertThat(synth.code()).as("%s", synth).isZero();
        train = shared.resolve("toy").resolve(SynthCommand.ACTIVATIONS);
        Cli.Run heldOut = Cli.run(
                "synth", "--out", shared.resolve("held"), "--d-in", 16, "--features", 24, "--tokens", 700, "--seed", 6);
        assertThat(heldOut.code()).as("%s", heldOut).isZero();
        held = shared.resolve("held").resolve(SynthCommand.ACTIVATIONS);
    }

    @AfterEach
    void resetHook() {
        OutputDirectory.beforeSave = dir -> {};
    }

    /** A sweep of two SAEs with every stateful feature on: windowed shuffle, prefetch, warm-up, cosine, eval. */
    private static List<Object> runArgs(Path out, int steps) {
        return new ArrayList<>(List.of(
                "train",
                "--data",
                train,
                "--d-sae",
                32,
                "--sweep",
                "k=2,4",
                "--batch-size",
                64,
                "--steps",
                steps,
                "--seed",
                9,
                "--shuffle-buffer",
                500,
                "--prefetch",
                2,
                "--lr-warmup-steps",
                5,
                "--lr-decay",
                "cosine",
                "--lr-end-fraction",
                0.1,
                "--checkpoint-every",
                10,
                "--eval-data",
                held,
                "--eval-every",
                10,
                "--eval-tokens",
                300,
                "--out",
                out));
    }

    @Test
    void aRunKilledWithSigkillResumesToTheSameBitsAsAnUninterruptedOne() throws Exception {
        int steps = 60;
        Path straight = tmp.resolve("straight");
        Cli.Run uninterrupted = Cli.run(runArgs(straight, steps).toArray());
        assertThat(uninterrupted.code()).as("%s", uninterrupted).isZero();

        Path killed = tmp.resolve("killed");
        List<String> command = new ArrayList<>(List.of(
                ProcessHandle.current().info().command().orElseThrow(),
                "--enable-native-access=ALL-UNNAMED",
                "-Dbatchtopk.test.step-delay-ms=40",
                "-cp",
                System.getProperty("java.class.path")));
        String library = System.getProperty("batchtopk.library");
        if (library != null && !library.isBlank()) {
            command.add("-Dbatchtopk.library=" + library);
        }
        command.add(Main.class.getName());
        runArgs(killed, steps).forEach(a -> command.add(String.valueOf(a)));
        Process process = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(tmp.resolve("child.log").toFile())
                .start();
        Path member = killed.resolve("batchtopk-dsae32-k4");
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        int loggedSteps = 0;
        while (System.nanoTime() < deadline && process.isAlive()) {
            try {
                if (Files.exists(member.resolve(Checkpoint.STATE_FILE))) {
                    loggedSteps =
                            Files.readAllLines(member.resolve(MetricsLog.FILE)).size();
                    if (loggedSteps >= 25) {
                        break;
                    }
                }
            } catch (IOException e) {
                // Caught in the middle of a checkpoint's directory swap: look again.
            }
            Thread.sleep(10);
        }
        assertThat(process.isAlive())
                .as(
                        "the child is still running (log: %s)",
                        Files.exists(tmp.resolve("child.log")) ? Files.readString(tmp.resolve("child.log")) : "")
                .isTrue();
        process.destroyForcibly(); // SIGKILL: no shutdown hooks, no final save
        assertThat(process.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(loggedSteps).isBetween(25, steps - 1);
        Map<String, String> saved = Safetensors.open(member.resolve(Checkpoint.STATE_FILE), Arena.global())
                .metadata();
        long checkpointStep = Long.parseLong(saved.get("batchtopk.run.steps"));
        assertThat(checkpointStep).isBetween(10L, (long) steps - 10);

        Cli.Run resumed = Cli.run("train", "--resume", killed);
        assertThat(resumed.code()).as("%s", resumed).isZero();
        assertThat(resumed.json().get("step")).isEqualTo((long) steps);

        for (String name : List.of("batchtopk-dsae32-k2", "batchtopk-dsae32-k4")) {
            assertSameState(killed.resolve(name), straight.resolve(name));
            // The logs go on without repeats or gaps, and evaluate the same SAEs the same way.
            assertThat(column(killed.resolve(name).resolve(MetricsLog.FILE), "step"))
                    .isEqualTo(column(straight.resolve(name).resolve(MetricsLog.FILE), "step"));
            assertThat(column(killed.resolve(name).resolve(MetricsLog.FILE), "lr"))
                    .isEqualTo(column(straight.resolve(name).resolve(MetricsLog.FILE), "lr"));
            assertThat(Files.readAllLines(killed.resolve(name).resolve(EvalLog.FILE)))
                    .isEqualTo(Files.readAllLines(straight.resolve(name).resolve(EvalLog.FILE)));
        }
    }

    @Test
    void aSweepTrainsEachSaeAsASeparateRunWould() throws IOException {
        Object[] common = {
            "--data",
            train,
            "--d-sae",
            32,
            "--batch-size",
            64,
            "--steps",
            15,
            "--seed",
            2,
            "--lr-warmup-steps",
            3,
            "--lr-decay",
            "linear"
        };
        Path sweep = tmp.resolve("sweep");
        Cli.Run run = Cli.run(
                concat(new Object[] {"train", "--sweep", "k=2,3", "--sweep", "d-sae=32,48", "--out", sweep}, common));
        assertThat(run.code()).as("%s", run).isZero();
        assertThat((List<?>) run.json().get("saes")).hasSize(4);
        try (var entries = Files.list(sweep)) {
            assertThat(entries.map(p -> p.getFileName().toString()).sorted().toList())
                    .containsExactly(
                            "batchtopk-dsae32-k2",
                            "batchtopk-dsae32-k3",
                            "batchtopk-dsae48-k2",
                            "batchtopk-dsae48-k3",
                            RunFile.FILE);
        }
        Path single = tmp.resolve("single");
        Cli.Run one = Cli.run(concat(new Object[] {"train", "--k", 3, "--out", single}, common));
        assertThat(one.code()).as("%s", one).isZero();
        assertSameState(sweep.resolve("batchtopk-dsae32-k3"), single);
        List<Object> lrs = column(single.resolve(MetricsLog.FILE), "lr");
        assertThat(lrs).hasSize(15);
        assertThat(((Number) lrs.get(0)).doubleValue()).isCloseTo(1e-4, org.assertj.core.data.Offset.offset(1e-12));
        assertThat(((Number) lrs.get(2)).doubleValue()).isEqualTo(3e-4);
        assertThat(((Number) lrs.get(14)).doubleValue()).isLessThan(3e-5);
    }

    @Test
    void evaluationLinesGoToEvalJsonl() throws IOException {
        Path out = tmp.resolve("sae");
        Cli.Run run = Cli.run(
                "train",
                "--data",
                train,
                "--d-sae",
                32,
                "--k",
                4,
                "--batch-size",
                100,
                "--steps",
                20,
                "--eval-data",
                held,
                "--eval-every",
                8,
                "--out",
                out);
        assertThat(run.code()).as("%s", run).isZero();
        List<String> lines = Files.readAllLines(out.resolve(EvalLog.FILE));
        assertThat(lines).hasSize(3); // steps 8, 16 and the last
        Map<?, ?> last = (Map<?, ?>) JsonCodec.parse(lines.getLast());
        assertThat(last.keySet().stream().map(String::valueOf).toList())
                .contains("step", "nmse", "explained_variance", "l0", "dead_fraction");
        assertThat(last.get("step")).isEqualTo(20L);
        assertThat(last.get("eval_tokens")).isEqualTo(700L); // fewer rows than --eval-tokens' default
        assertThat(((Number) last.get("explained_variance")).doubleValue())
                .isCloseTo(1 - ((Number) last.get("nmse")).doubleValue(), org.assertj.core.data.Offset.offset(1e-9));
    }

    @Test
    void evalDataOfAnotherWidthIsRefused() {
        Cli.Run narrow =
                Cli.run("synth", "--out", tmp.resolve("narrow"), "--d-in", 8, "--features", 8, "--tokens", 100);
        assertThat(narrow.code()).isZero();
        Cli.Run run = Cli.run(
                "train",
                "--data",
                train,
                "--d-sae",
                32,
                "--k",
                4,
                "--batch-size",
                100,
                "--steps",
                2,
                "--eval-data",
                tmp.resolve("narrow").resolve(SynthCommand.ACTIVATIONS),
                "--out",
                tmp.resolve("sae"));
        assertThat(run.code()).isEqualTo(Main.FAILURE);
        assertThat(run.err()).startsWith("error: --eval-data has width d = 8").contains("the training data has d = 16");
    }

    @Test
    void resumeTakesNoOtherRunOptions() {
        Cli.Run run = Cli.run("train", "--resume", tmp, "--steps", 5);
        assertThat(run.code()).isEqualTo(Main.USAGE);
        assertThat(run.err()).contains("--steps cannot be given with --resume");
        Cli.Run none = Cli.run("train", "--resume", tmp);
        assertThat(none.code()).isEqualTo(Main.FAILURE);
        assertThat(none.err()).contains("no run.json");
    }

    @Test
    void aFailingCheckpointWriteLeavesThePreviousCheckpointIntact() throws IOException {
        Path out = tmp.resolve("sae");
        int[] saves = {0};
        OutputDirectory.beforeSave = dir -> {
            if (++saves[0] == 2) {
                // What a full disk does half-way through: part of the new checkpoint is written, then ENOSPC.
                Path incoming = dir.resolveSibling(dir.getFileName() + ".incoming");
                Files.createDirectories(incoming);
                Files.writeString(incoming.resolve("cfg.json"), "{\"trunc");
                throw new java.nio.file.FileSystemException(
                        incoming.resolve("sae_weights.safetensors").toString(), null, "No space left on device");
            }
        };
        Cli.Run run = Cli.run(
                "train",
                "--data",
                train,
                "--d-sae",
                32,
                "--k",
                4,
                "--batch-size",
                100,
                "--steps",
                30,
                "--checkpoint-every",
                10,
                "--out",
                out);
        assertThat(run.code()).isEqualTo(Main.FAILURE);
        assertThat(run.err())
                .startsWith("error: could not write the checkpoint of step 20 to ")
                .contains("No space left on device")
                .contains("the previous checkpoint there is intact");
        assertThat(tmp.resolve("sae.incoming")).doesNotExist();
        try (Checkpoint.Loaded loaded = Checkpoint.resume(out)) {
            assertThat(loaded.extra().get("batchtopk.run.steps")).isEqualTo("10");
        }
    }

    @Test
    void aRunThatDiedBeforeItsFirstCheckpointResumesFromTheStart() throws IOException {
        Object[] args = {
            "train",
            "--data",
            train,
            "--d-sae",
            32,
            "--k",
            4,
            "--batch-size",
            100,
            "--steps",
            12,
            "--checkpoint-every",
            5,
            "--lr-decay",
            "linear",
            "--shuffle-buffer",
            700
        };
        Path straight = tmp.resolve("straight");
        assertThat(Cli.run(concat(args, new Object[] {"--out", straight})).code())
                .isZero();
        Path out = tmp.resolve("died");
        OutputDirectory.beforeSave = dir -> {
            throw new java.nio.file.FileSystemException(dir.toString(), null, "Read-only file system");
        };
        Cli.Run died = Cli.run(concat(args, new Object[] {"--out", out}));
        assertThat(died.code()).isEqualTo(Main.FAILURE);
        assertThat(died.err())
                .contains("could not write the checkpoint of step 5")
                .contains("Read-only file system")
                .doesNotContain("intact");
        OutputDirectory.beforeSave = dir -> {};
        Cli.Run resumed = Cli.run("train", "--resume", out);
        assertThat(resumed.code()).as("%s", resumed).isZero();
        assertSameState(out, straight);
        assertThat(column(out.resolve(MetricsLog.FILE), "step"))
                .isEqualTo(column(straight.resolve(MetricsLog.FILE), "step"));
        Cli.Run again = Cli.run("train", "--resume", out);
        assertThat(again.code()).isEqualTo(Main.FAILURE);
        assertThat(again.err()).contains("already complete");
    }

    /** A kill between the two renames of a checkpoint save leaves the run in DIR.incoming; --resume finds it. */
    @Test
    void aRunKilledBetweenTheRenamesOfASaveResumes() throws IOException {
        Object[] args = {
            "train",
            "--data",
            train,
            "--d-sae",
            32,
            "--k",
            4,
            "--batch-size",
            100,
            "--steps",
            12,
            "--checkpoint-every",
            5
        };
        Path straight = tmp.resolve("straight");
        assertThat(Cli.run(concat(args, new Object[] {"--out", straight})).code())
                .isZero();
        Path out = tmp.resolve("swapped");
        OutputDirectory.beforeSave = dir -> {
            if (Files.exists(dir.resolve(RunFile.FILE)) && Files.exists(dir.resolve("cfg.json"))) {
                throw new java.nio.file.FileSystemException(dir.toString(), null, "killed");
            }
        };
        assertThat(Cli.run(concat(args, new Object[] {"--out", out})).code()).isEqualTo(Main.FAILURE);
        OutputDirectory.beforeSave = dir -> {};
        // What the disk holds after a kill between "rename the old checkpoint away" and "rename the new one in".
        Path previous = tmp.resolve("swapped.previous");
        Path incoming = tmp.resolve("swapped.incoming");
        Files.move(out, previous);
        copyTree(previous, incoming);
        Cli.Run resumed = Cli.run("train", "--resume", out);
        assertThat(resumed.code()).as("%s", resumed).isZero();
        assertSameState(out, straight);
        assertThat(previous).doesNotExist();
        assertThat(incoming).doesNotExist();
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (var paths = Files.walk(from)) {
            for (Path path : paths.toList()) {
                Files.copy(path, to.resolve(from.relativize(path).toString()));
            }
        }
    }

    /** The same with a real full disk: a 128 KiB tmpfs (needs root; skipped elsewhere). */
    @Test
    void aFullDiskDuringACheckpointLeavesThePreviousOneIntact() throws Exception {
        Path mount = Files.createDirectories(tmp.resolve("tiny"));
        Process mounting = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", mount.toString())
                .redirectErrorStream(true)
                .start();
        boolean mounted = mounting.waitFor(10, TimeUnit.SECONDS) && mounting.exitValue() == 0;
        Assumptions.assumeTrue(mounted, "cannot mount a tmpfs here (not root?)");
        try {
            Path out = mount.resolve("sae");
            // d = 16, d_sae = 160: one checkpoint (weights, then parameters and Adam moments again in the
            // state file) takes about 90 KiB; the second save must hold both at once and cannot.
            Cli.Run run = Cli.run(
                    "train",
                    "--data",
                    train,
                    "--d-sae",
                    160,
                    "--k",
                    4,
                    "--batch-size",
                    100,
                    "--steps",
                    4,
                    "--checkpoint-every",
                    2,
                    "--out",
                    out);
            assertThat(run.code()).as("%s", run).isEqualTo(Main.FAILURE);
            assertThat(run.err()).contains("could not write the checkpoint").contains("No space left on device");
            try (Checkpoint.Loaded loaded = Checkpoint.resume(out)) {
                assertThat(loaded.extra().get("batchtopk.run.steps")).isEqualTo("2");
            }
        } finally {
            new ProcessBuilder("umount", mount.toString()).start().waitFor(10, TimeUnit.SECONDS);
        }
    }

    // ------------------------------------------------------------------------------------------

    /** Every tensor of the two checkpoints' training state, byte for byte. */
    static void assertSameState(Path actual, Path expected) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile a = Safetensors.open(actual.resolve(Checkpoint.STATE_FILE), arena);
            SafetensorsFile e = Safetensors.open(expected.resolve(Checkpoint.STATE_FILE), arena);
            assertThat(a.tensors().keySet()).isEqualTo(e.tensors().keySet());
            for (String name : e.tensors().keySet()) {
                Tensor ta = a.tensors().get(name);
                Tensor te = e.tensors().get(name);
                assertThat(ta.shape()).as(name).isEqualTo(te.shape());
                byte[] ba = ta.data().toArray(ValueLayout.JAVA_BYTE);
                byte[] be = te.data().toArray(ValueLayout.JAVA_BYTE);
                assertThat(Arrays.mismatch(ba, be))
                        .as("%s: first differing byte of %s", actual, name)
                        .isEqualTo(-1);
            }
            // The same tokens, data position, steps and lr; only the run ids differ (two runs).
            Map<String, String> ma = new java.util.HashMap<>(a.metadata());
            Map<String, String> me = new java.util.HashMap<>(e.metadata());
            ma.remove(RunFile.ID_KEY);
            me.remove(RunFile.ID_KEY);
            assertThat(ma).isEqualTo(me);
        }
    }

    private static List<Object> column(Path jsonl, String key) throws IOException {
        List<Object> values = new ArrayList<>();
        for (String line : Files.readAllLines(jsonl)) {
            values.add(((Map<?, ?>) JsonCodec.parse(line)).get(key));
        }
        return values;
    }

    private static Object[] concat(Object[] a, Object[] b) {
        Object[] all = new Object[a.length + b.length];
        System.arraycopy(a, 0, all, 0, a.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }
}
