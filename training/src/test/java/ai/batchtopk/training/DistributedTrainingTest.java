package ai.batchtopk.training;

import static ai.batchtopk.train.RunFiles.assertCloseState;
import static ai.batchtopk.train.RunFiles.assertCloseTensors;
import static ai.batchtopk.train.RunFiles.column;
import static ai.batchtopk.train.RunFiles.copyTree;
import static org.assertj.core.api.Assertions.assertThat;

import ai.batchtopk.Checkpoint;
import ai.batchtopk.SaeLens;
import ai.batchtopk.ShardedCheckpoint;
import ai.batchtopk.io.DType;
import ai.batchtopk.io.Npy;
import ai.batchtopk.io.Safetensors;
import ai.batchtopk.io.Tensor;
import ai.batchtopk.train.MetricsLog;
import ai.batchtopk.train.RunFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code train --nproc N}: N worker JVMs on 127.0.0.1 train the same SAE as one process; a lost (killed
 * or stopped) worker ends the job within 60 s with an error naming its rank; a job killed with -9
 * resumes, with the same or another number of workers; bad input is refused clearly.
 */
class DistributedTrainingTest {
    @TempDir
    static Path shared;

    static Path data;

    @TempDir
    Path tmp;

    @BeforeAll
    static void data() {
        Cli.Run synth = Cli.run(
                "synth", "--out", shared.resolve("toy"), "--d-in", 16, "--features", 24, "--tokens", 3000, "--seed", 5);
        assertThat(synth.code()).as("%s", synth).isZero();
        data = shared.resolve("toy").resolve(SynthCommand.ACTIVATIONS);
    }

    @AfterEach
    void noTestHooks() {
        System.clearProperty("batchtopk.test.step-delay-ms");
        System.clearProperty("batchtopk.dist.heartbeat-timeout-s");
    }

    private static List<Object> args(Path out, int steps) {
        return new ArrayList<>(List.of(
                "train",
                "--data",
                data,
                "--d-sae",
                48,
                "--k",
                3,
                "--batch-size",
                60,
                "--steps",
                steps,
                "--seed",
                9,
                "--shuffle-buffer",
                700,
                "--lr",
                1e-3,
                "--dead-after-tokens",
                300,
                "--k-aux",
                8,
                "--threads",
                1,
                "--out",
                out));
    }

    private static Object[] with(List<Object> args, Object... more) {
        List<Object> all = new ArrayList<>(args);
        all.addAll(List.of(more));
        return all.toArray();
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 3})
    void workersTrainTheSameSaeAsOneProcess(int nproc) throws IOException {
        Path single = tmp.resolve("single");
        Cli.Run one = Cli.run(args(single, 20).toArray());
        assertThat(one.code()).as("%s", one).isZero();
        Path parallel = tmp.resolve("parallel");
        Cli.Run many = Cli.run(with(args(parallel, 20), "--nproc", nproc));
        assertThat(many.code()).as("%s", many).isZero();
        assertThat(many.err())
                .contains("rank 0: batchtopk: data-parallel training over " + nproc
                        + " workers: c10d, backend gloo (cpu)");
        // One summary line, rank 0's.
        assertThat(many.out().strip().lines()).hasSize(1);
        assertThat(many.json().get("step")).isEqualTo(20L);
        assertThat(many.json().get("tokens")).isEqualTo(one.json().get("tokens"));

        assertCloseState(parallel, single, 2e-5);
        // Identical selections at every step: the same L0 and dead counts, line by line.
        assertThat(column(parallel, "l0")).isEqualTo(column(single, "l0"));
        assertThat(column(parallel, "dead")).isEqualTo(column(single, "dead"));
        // run.json keeps no worker count: a resume may choose another.
        assertThat(Files.readString(parallel.resolve(RunFile.FILE))).doesNotContain("--nproc");
    }

    @Test
    void aJobKilledWithSigkillResumesWithTheSameOrAnotherNumberOfWorkers() throws Exception {
        Path straight = tmp.resolve("straight");
        Cli.Run uninterrupted = Cli.run(args(straight, 40).toArray());
        assertThat(uninterrupted.code()).as("%s", uninterrupted).isZero();

        // The launcher in a JVM of its own, so that the whole job (launcher and workers) can be killed with -9.
        Path killed = tmp.resolve("killed");
        List<String> command = javaCommand("-Dbatchtopk.test.step-delay-ms=60");
        for (Object arg : with(args(killed, 40), "--nproc", 2, "--checkpoint-every", 10)) {
            command.add(String.valueOf(arg));
        }
        Process launcher = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(tmp.resolve("launcher.log").toFile())
                .start();
        waitForCheckpoint(killed, launcher);
        List<ProcessHandle> job = new ArrayList<>(launcher.descendants().toList());
        job.add(launcher.toHandle());
        job.forEach(ProcessHandle::destroyForcibly);
        for (ProcessHandle process : job) {
            process.onExit().get(30, TimeUnit.SECONDS);
        }
        long checkpointStep = Long.parseLong(
                savedMetadata(killed.resolve(Checkpoint.STATE_FILE)).get("batchtopk.run.steps"));
        assertThat(checkpointStep).isBetween(10L, 30L);

        Path copy = tmp.resolve("killed-copy");
        copyTree(killed, copy);
        Cli.Run resumed = Cli.run("train", "--resume", killed, "--nproc", 2);
        assertThat(resumed.code()).as("%s", resumed).isZero();
        assertThat(resumed.json().get("step")).isEqualTo(40L);
        assertCloseState(killed, straight, 2e-5);
        assertThat(column(killed, "step")).isEqualTo(column(straight, "step"));

        // Data parallelism trains the same SAE whatever the number of workers: resume with 3.
        Cli.Run three = Cli.run("train", "--resume", copy, "--nproc", 3);
        assertThat(three.code()).as("%s", three).isZero();
        assertCloseState(copy, straight, 2e-5);
    }

    @Test
    void aKilledWorkerEndsTheJobNamingItsRank() throws Exception {
        System.setProperty("batchtopk.test.step-delay-ms", "50");
        Path out = tmp.resolve("lost");
        CompletableFuture<Cli.Run> job =
                CompletableFuture.supplyAsync(() -> Cli.run(with(args(out, 5000), "--nproc", 3)));
        ProcessHandle victim = waitForWorker(1, out);
        long killed = System.nanoTime();
        victim.destroyForcibly();
        Cli.Run run = job.get(90, TimeUnit.SECONDS);
        double seconds = (System.nanoTime() - killed) / 1e9;
        assertThat(run.code()).as("%s", run).isEqualTo(Main.FAILURE);
        assertThat(run.err())
                .contains("error: rank 1 of 3 (pid " + victim.pid() + ") was killed by signal 9 (exit code 137);"
                        + " stopped the other workers");
        assertThat(seconds).isLessThan(60);
        assertThat(ProcessHandle.current().children().filter(ProcessHandle::isAlive))
                .as("workers left running")
                .isEmpty();
    }

    @Test
    void aStoppedWorkerEndsTheJobNamingItsRank() throws Exception {
        System.setProperty("batchtopk.test.step-delay-ms", "50");
        System.setProperty("batchtopk.dist.heartbeat-timeout-s", "5");
        Path out = tmp.resolve("hung");
        CompletableFuture<Cli.Run> job =
                CompletableFuture.supplyAsync(() -> Cli.run(with(args(out, 5000), "--nproc", 2)));
        ProcessHandle victim = waitForWorker(1, out);
        long stopped = System.nanoTime();
        // SIGSTOP: alive but silent, as a hung worker is; the others wait in their next collective.
        Process stop = new ProcessBuilder("kill", "-STOP", Long.toString(victim.pid())).start();
        assertThat(stop.waitFor()).isZero();
        Cli.Run run = job.get(90, TimeUnit.SECONDS);
        double seconds = (System.nanoTime() - stopped) / 1e9;
        assertThat(run.code()).as("%s", run).isEqualTo(Main.FAILURE);
        assertThat(run.err())
                .contains("error: rank 1 of 2 (pid " + victim.pid() + ") stopped responding: no heartbeat for");
        assertThat(seconds).isLessThan(60);
        victim.onExit().get(30, TimeUnit.SECONDS);
    }

    @Test
    void aBadRowEndsTheJobNamingTheRankThatReadIt() throws Exception {
        Path bad = tmp.resolve("bad.npy");
        try (Arena arena = Arena.ofConfined()) {
            Tensor rows = Tensor.allocate(DType.F32, new long[] {600, 16}, arena);
            for (long i = 0; i < 600 * 16; i++) {
                rows.data().setAtIndex(ValueLayout.JAVA_FLOAT, i, (i * 7919 % 13) / 13f);
            }
            // Row 100 is in the batch of step 2 (rows 60-119), in rank 1's half of it (90-119).
            rows.data().setAtIndex(ValueLayout.JAVA_FLOAT, 100 * 16 + 3, Float.NaN);
            Npy.write(bad, rows);
        }
        Cli.Run run = Cli.run(
                "train",
                "--data",
                bad,
                "--no-shuffle",
                "--d-sae",
                48,
                "--k",
                3,
                "--batch-size",
                60,
                "--steps",
                5,
                "--threads",
                1,
                "--out",
                tmp.resolve("bad"),
                "--nproc",
                2);
        assertThat(run.code()).as("%s", run).isEqualTo(Main.FAILURE);
        assertThat(run.err())
                .contains("rank 1: error: row 100 (0-based) of " + bad
                        + " holds NaN in column 3 (in the batch of step 2)")
                .contains("error: rank 1 of 2 (pid ");
        assertThat(run.err()).doesNotContain("error: rank 0 of 2");
    }

    @Test
    void nprocZeroIsAUsageError() {
        Cli.Run run = Cli.run(with(args(tmp.resolve("x"), 5), "--nproc", 0));
        assertThat(run.code()).as("%s", run).isEqualTo(Main.USAGE);
        assertThat(run.err()).contains("--nproc must be at least 1, got 0");
    }

    @Test
    void usageErrorsComeBeforeAnyWorkerStarts() {
        Cli.Run run = Cli.run(
                "train",
                "--data",
                data,
                "--d-sae",
                48,
                "--k",
                3,
                "--steps",
                5,
                "--out",
                tmp.resolve("x"),
                "--nproc",
                2);
        assertThat(run.code()).as("%s", run).isEqualTo(Main.USAGE);
        assertThat(run.err())
                .contains("Missing required option: '--batch-size=B'")
                .doesNotContain("rank 0");
    }

    @Test
    void aPortInUseIsAClearError() throws IOException {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            Cli.Run run = Cli.run(with(args(tmp.resolve("x"), 5), "--nproc", 2, "--master-port", taken.getLocalPort()));
            assertThat(run.code()).as("%s", run).isEqualTo(Main.FAILURE);
            assertThat(run.err()).contains("error: --master-port " + taken.getLocalPort() + " is in use");
        }
        assertThat(tmp.resolve("x")).doesNotExist();
    }

    @Test
    void aWorkerWithoutMasterAddrIsRefusedNamingTheVariable() throws Exception {
        List<String> command = javaCommand();
        args(tmp.resolve("x"), 5).forEach(a -> command.add(String.valueOf(a)));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        builder.environment().keySet().removeAll(List.of("MASTER_ADDR", "MASTER_PORT"));
        builder.environment().put("WORLD_SIZE", "2");
        builder.environment().put("RANK", "0");
        Process worker = builder.start();
        String output = new String(worker.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(worker.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(worker.exitValue()).as(output).isEqualTo(Main.FAILURE);
        assertThat(output).contains("error: WORLD_SIZE is set (2) but MASTER_ADDR is not");
        assertThat(tmp.resolve("x")).doesNotExist();
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 3})
    void latentShardedWorkersTrainTheSameSaeAsOneProcess(int nproc) throws IOException {
        Path single = tmp.resolve("single");
        Cli.Run one = Cli.run(with(args(single, 20), "--checkpoint-every", 10));
        assertThat(one.code()).as("%s", one).isZero();
        Path sharded = tmp.resolve("sharded");
        Cli.Run many =
                Cli.run(with(args(sharded, 20), "--checkpoint-every", 10, "--nproc", nproc, "--parallel", "latents"));
        assertThat(many.code()).as("%s", many).isZero();
        assertThat(many.err())
                .contains("rank 0: batchtopk: latent-sharded training over " + nproc
                        + " workers: c10d, backend gloo (cpu)");
        assertThat(many.out().strip().lines()).hasSize(1);
        assertThat(many.json().get("step")).isEqualTo(20L);
        assertThat(many.json().get("tokens")).isEqualTo(one.json().get("tokens"));

        // The SAELens files of the whole SAE (rank 0 gathered it) beside one checkpoint file per worker.
        assertCloseTensors(sharded.resolve(SaeLens.WEIGHTS_FILE), single.resolve(SaeLens.WEIGHTS_FILE), 2e-5);
        assertThat(sharded.resolve(ShardedCheckpoint.MANIFEST)).exists();
        assertThat(column(sharded, "l0")).isEqualTo(column(single, "l0"));
        assertThat(column(sharded, "dead")).isEqualTo(column(single, "dead"));
        // The run is finished: resuming it says so, with any number of workers.
        Cli.Run again = Cli.run("train", "--resume", sharded, "--nproc", 2);
        assertThat(again.code()).as("%s", again).isNotZero();
        assertThat(again.err()).contains("the run is already complete (20 of 20 steps)");
    }

    @Test
    void aLatentShardedJobKilledWithSigkillResumesWithTheSameOrAnotherNumberOfWorkers() throws Exception {
        Path straight = tmp.resolve("straight");
        Cli.Run uninterrupted = Cli.run(args(straight, 40).toArray());
        assertThat(uninterrupted.code()).as("%s", uninterrupted).isZero();

        Path killed = tmp.resolve("killed");
        List<String> command = javaCommand("-Dbatchtopk.test.step-delay-ms=60");
        for (Object arg : with(args(killed, 40), "--nproc", 2, "--parallel", "latents", "--checkpoint-every", 10)) {
            command.add(String.valueOf(arg));
        }
        Process launcher = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(tmp.resolve("launcher.log").toFile())
                .start();
        waitForCheckpoint(killed, ShardedCheckpoint.MANIFEST, launcher);
        List<ProcessHandle> job = new ArrayList<>(launcher.descendants().toList());
        job.add(launcher.toHandle());
        job.forEach(ProcessHandle::destroyForcibly);
        for (ProcessHandle process : job) {
            process.onExit().get(30, TimeUnit.SECONDS);
        }
        assertThat(killed.resolve(SaeLens.WEIGHTS_FILE)).doesNotExist();

        Path copy = tmp.resolve("killed-copy");
        copyTree(killed, copy);
        // run.json keeps --parallel latents: the resumed run is latent-sharded again.
        Cli.Run resumed = Cli.run("train", "--resume", killed, "--nproc", 2);
        assertThat(resumed.code()).as("%s", resumed).isZero();
        assertThat(resumed.err()).contains("latent-sharded training over 2 workers");
        assertThat(resumed.json().get("step")).isEqualTo(40L);
        assertCloseTensors(killed.resolve(SaeLens.WEIGHTS_FILE), straight.resolve(SaeLens.WEIGHTS_FILE), 2e-5);
        assertThat(column(killed, "step")).isEqualTo(column(straight, "step"));
        assertThat(column(killed, "l0")).isEqualTo(column(straight, "l0"));

        // Each worker re-slices its latents from the shard files: resume with 3.
        Cli.Run three = Cli.run("train", "--resume", copy, "--nproc", 3);
        assertThat(three.code()).as("%s", three).isZero();
        assertCloseTensors(copy.resolve(SaeLens.WEIGHTS_FILE), straight.resolve(SaeLens.WEIGHTS_FILE), 2e-5);
        assertThat(column(copy, "dead")).isEqualTo(column(straight, "dead"));
    }

    @Test
    void latentShardingRefusesWhatItCannotSplitBeforeTheDirectoryChanges() {
        List<Object> jumprelu = args(tmp.resolve("jumprelu"), 5);
        jumprelu.addAll(List.of("--arch", "jumprelu", "--nproc", 2, "--parallel", "latents"));
        Cli.Run arch = Cli.run(jumprelu.toArray());
        assertThat(arch.code()).as("%s", arch).isEqualTo(Main.FAILURE);
        assertThat(arch.err())
                .contains("latent-sharded training supports the batchtopk and topk architectures, not jumprelu");
        assertThat(tmp.resolve("jumprelu")).doesNotExist();
        Cli.Run naive =
                Cli.run(with(args(tmp.resolve("naive"), 5), "--path", "naive", "--nproc", 2, "--parallel", "latents"));
        assertThat(naive.code()).as("%s", naive).isEqualTo(Main.FAILURE);
        assertThat(naive.err()).contains("latent-sharded training runs the fused path only, not naive");
        assertThat(tmp.resolve("naive")).doesNotExist();
        // The memory check counts each worker's shard of the latents: d_sae / 2 here (still far too many).
        List<Object> huge = args(tmp.resolve("huge"), 5);
        huge.set(huge.indexOf("--d-sae") + 1, 1_000_000_000_000L);
        huge.addAll(List.of("--nproc", 2, "--parallel", "latents"));
        Cli.Run tooLarge = Cli.run(huge.toArray());
        assertThat(tooLarge.code()).as("%s", tooLarge).isNotZero();
        assertThat(tooLarge.err())
                .contains("asks for more memory than there is")
                .contains("d_sae 500000000000)");
        assertThat(tmp.resolve("huge")).doesNotExist();
    }

    @Test
    void parallelNeedsSeveralWorkersAndAKnownMode() {
        Cli.Run alone = Cli.run(with(args(tmp.resolve("x"), 5), "--parallel", "data"));
        assertThat(alone.code()).as("%s", alone).isEqualTo(Main.USAGE);
        assertThat(alone.err()).contains("--parallel only applies to a run of several workers");
        Cli.Run unknown = Cli.run(with(args(tmp.resolve("x"), 5), "--nproc", 2, "--parallel", "pipeline"));
        assertThat(unknown.err()).contains("--parallel pipeline: expected data or latents");
    }

    @Test
    void workerEnvironmentIsReadLikeTorchrun() {
        assertThat(WorkerEnvironment.from(Map.of())).isEmpty();
        assertThat(WorkerEnvironment.from(Map.of("MASTER_ADDR", "10.0.0.1"))).isEmpty();
        assertThat(WorkerEnvironment.from(Map.of(
                        "WORLD_SIZE", "4",
                        "RANK", "3",
                        "LOCAL_RANK", "1",
                        "LOCAL_WORLD_SIZE", "2",
                        "MASTER_ADDR", "h",
                        "MASTER_PORT", "29500")))
                .contains(new WorkerEnvironment(3, 4, 1, 2, "h", 29500));
        assertFails(
                Map.of("WORLD_SIZE", "2", "RANK", "0", "MASTER_PORT", "29500"),
                "WORLD_SIZE is set (2) but MASTER_ADDR is not");
        assertFails(
                Map.of("WORLD_SIZE", "2", "RANK", "0", "MASTER_ADDR", "h"),
                "WORLD_SIZE is set (2) but MASTER_PORT is not");
        assertFails(
                Map.of("WORLD_SIZE", "2", "MASTER_ADDR", "h", "MASTER_PORT", "1"),
                "WORLD_SIZE is set (2) but RANK is not");
        assertFails(
                Map.of("WORLD_SIZE", "2", "RANK", "2", "MASTER_ADDR", "h", "MASTER_PORT", "1"),
                "RANK=2 is out of range: expected 0 to 1");
        assertFails(
                Map.of("WORLD_SIZE", "two", "RANK", "0", "MASTER_ADDR", "h", "MASTER_PORT", "1"),
                "WORLD_SIZE='two' is not an integer");
        assertFails(
                Map.of("WORLD_SIZE", "2", "RANK", "0", "MASTER_ADDR", "h", "MASTER_PORT", "70000"),
                "MASTER_PORT=70000 is out of range");
    }

    private static void assertFails(Map<String, String> env, String message) {
        try {
            WorkerEnvironment.from(env);
            throw new AssertionError("accepted " + env);
        } catch (CommandFailure e) {
            assertThat(e.getMessage()).contains(message);
        }
    }

    /** java with this JVM's class path and native library, ready for Main's arguments. */
    private static List<String> javaCommand(String... options) {
        List<String> command = new ArrayList<>(List.of(
                ProcessHandle.current().info().command().orElseThrow(),
                "--enable-native-access=ALL-UNNAMED",
                "-cp",
                System.getProperty("java.class.path")));
        String library = System.getProperty("batchtopk.library");
        if (library != null && !library.isBlank()) {
            command.add("-Dbatchtopk.library=" + library);
        }
        command.addAll(List.of(options));
        command.add(Main.class.getName());
        return command;
    }

    private static ProcessHandle waitForWorker(int rank, Path out) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (System.nanoTime() < deadline) {
            if (Files.exists(out.resolve(MetricsLog.FILE))
                    && Files.readAllLines(out.resolve(MetricsLog.FILE)).size() >= 3) {
                Optional<ProcessHandle> worker = ProcessHandle.current()
                        .children()
                        .filter(p -> environment(p).contains("\0RANK=" + rank + "\0"))
                        .findFirst();
                if (worker.isPresent()) {
                    return worker.get();
                }
            }
            Thread.sleep(20);
        }
        throw new AssertionError("the workers did not start training within 90 s");
    }

    private static void waitForCheckpoint(Path out, Process launcher) throws Exception {
        waitForCheckpoint(out, Checkpoint.STATE_FILE, launcher);
    }

    /** Waits until {@code out} holds {@code checkpointFile} and 15 metrics lines. */
    private static void waitForCheckpoint(Path out, String checkpointFile, Process launcher) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (System.nanoTime() < deadline && launcher.isAlive()) {
            try {
                if (Files.exists(out.resolve(checkpointFile))
                        && Files.readAllLines(out.resolve(MetricsLog.FILE)).size() >= 15) {
                    return;
                }
            } catch (IOException e) {
                // Caught in the middle of a checkpoint's directory swap: look again.
            }
            Thread.sleep(10);
        }
        throw new AssertionError("no checkpoint within 90 s (the launcher "
                + (launcher.isAlive() ? "is still running" : "exited " + launcher.exitValue()) + ")");
    }

    /** A process's environment as /proc shows it ("\0NAME=value\0..."); "" when it cannot be read. */
    private static String environment(ProcessHandle process) {
        try {
            // The \0 before each name keeps LOCAL_RANK=1 from matching RANK=1.
            return "\0"
                    + Files.readString(
                            Path.of("/proc", Long.toString(process.pid()), "environ"), StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            return "";
        }
    }

    private static Map<String, String> savedMetadata(Path state) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            return Safetensors.open(state, arena).metadata();
        }
    }
}
