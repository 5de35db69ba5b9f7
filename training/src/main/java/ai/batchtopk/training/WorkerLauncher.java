package ai.batchtopk.training;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * {@code train --nproc N}: starts N worker JVMs on this machine, each the same {@code train} command with
 * torchrun's environment (WORLD_SIZE, RANK, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1,
 * MASTER_PORT), and supervises them. Rank 0's standard output is the job's; every worker's standard error
 * comes through prefixed with {@code rank R: }.
 *
 * <p>A worker that fails, is killed or stops responding (no heartbeat for {@link #hungAfter()}) ends the
 * job: the others are stopped and the error names the lost rank, never a silent hang. When several fail
 * (a dead rank's peers lose their connections too), the cause is named: a rank killed by a signal before
 * one that failed on its own, and that before the ones that only lost their group
 * ({@link DistributedWorker#LOST_GROUP}). A worker whose launcher is
 * gone (kill -9) stops by itself ({@link DistributedWorker#keepInTouch}).
 */
final class WorkerLauncher {
    /** How long a worker may go without a heartbeat before it counts as hung (read per job: tests shorten it). */
    static Duration hungAfter() {
        return Duration.ofSeconds(Long.getLong("batchtopk.dist.heartbeat-timeout-s", 30));
    }

    private static final long POLL_MS = 100;
    // After the first failure, how long the others get to fail too, so that the cause is the one named.
    private static final long SETTLE_MS = 1_000;
    private static final long GRACE_MS = 5_000;

    private record Worker(int rank, Process process, Path heartbeat) {
        String describe(int of) {
            return "rank " + rank + " of " + of + " (pid " + process.pid() + ")";
        }
    }

    private final int nproc;
    private final List<Worker> workers = new ArrayList<>();
    // Ranks in the order their processes ended.
    private final Queue<Integer> ended = new ConcurrentLinkedQueue<>();

    private WorkerLauncher(int nproc) {
        this.nproc = nproc;
    }

    /**
     * Runs the job of {@code c} ({@code --nproc N}, {@code --master-port}, {@code --threads}): returns
     * {@link Main#OK} when every worker succeeded. The command's usage errors are found here, once, before
     * any worker starts.
     *
     * @throws CommandFailure naming the lost rank when a worker fails, is killed or hangs
     */
    static int run(TrainCommand c, PrintWriter out, PrintWriter err) throws IOException {
        if (c.resume != null) {
            c.checkResumeOptions();
        } else {
            TrainOptionChecks.check(c);
        }
        // Each worker runs the same command line without --nproc and --master-port.
        List<String> workerArgs = DistributedOptions.workerArgs(
                c.spec.commandLine().getParseResult().originalArgs());
        int port = c.masterPort != null ? requireFree(c.masterPort) : freePort();
        return new WorkerLauncher(c.nproc).launch(port, c.threads, workerArgs, out, err);
    }

    private int launch(int port, Integer threads, List<String> workerArgs, PrintWriter out, PrintWriter err)
            throws IOException {
        Path heartbeats = Files.createTempDirectory("batchtopk-launch-");
        List<Thread> relays = new ArrayList<>();
        Thread stopOnExit = new Thread(() -> workers.forEach(w -> w.process().destroyForcibly()));
        Runtime.getRuntime().addShutdownHook(stopOnExit);
        String perWorker = Integer.toString(
                threads != null ? threads : Math.max(1, Runtime.getRuntime().availableProcessors() / nproc));
        try {
            for (int rank = 0; rank < nproc; rank++) {
                ProcessBuilder builder = new ProcessBuilder(command(workerArgs));
                Map<String, String> env = builder.environment();
                env.put(WorkerEnvironment.WORLD_SIZE, Integer.toString(nproc));
                env.put(WorkerEnvironment.RANK, Integer.toString(rank));
                env.put(WorkerEnvironment.LOCAL_RANK, Integer.toString(rank));
                env.put(WorkerEnvironment.LOCAL_WORLD_SIZE, Integer.toString(nproc));
                env.put(WorkerEnvironment.MASTER_ADDR, "127.0.0.1");
                env.put(WorkerEnvironment.MASTER_PORT, Integer.toString(port));
                env.put(
                        DistributedWorker.LAUNCHER_PID,
                        Long.toString(ProcessHandle.current().pid()));
                Path heartbeat = heartbeats.resolve("rank" + rank);
                env.put(DistributedWorker.HEARTBEAT, heartbeat.toString());
                // OpenBLAS sizes its own pool from the cores, whatever --threads says: N workers would each
                // start one thread per core.
                env.putIfAbsent("OPENBLAS_NUM_THREADS", perWorker);
                env.putIfAbsent("OMP_NUM_THREADS", perWorker);
                Process process = builder.start();
                int r = rank;
                // A thread of its own per worker: Process.onExit() completes on the common pool, which a caller
                // may have busy (on a 2-core machine it has one thread), and the order of the ends would be lost.
                Thread.ofPlatform().daemon().name("wait for rank " + r).start(() -> {
                    try {
                        process.waitFor();
                        ended.add(r);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                });
                workers.add(new Worker(rank, process, heartbeat));
                String prefix = "rank " + rank + ": ";
                relays.add(relay(process.getErrorStream(), err, prefix));
                relays.add(relay(process.getInputStream(), rank == 0 ? out : err, rank == 0 ? "" : prefix));
            }
            String lost = supervise();
            for (Thread relay : relays) {
                relay.join(GRACE_MS);
            }
            if (lost != null) {
                throw new CommandFailure(lost);
            }
            return Main.OK;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CommandFailure("interrupted while supervising the workers", e);
        } finally {
            workers.forEach(w -> w.process().destroyForcibly());
            try {
                Runtime.getRuntime().removeShutdownHook(stopOnExit);
            } catch (IllegalStateException shuttingDown) {
                // The hook is running already: it stops the workers.
            }
            deleteTree(heartbeats);
        }
    }

    /** Waits for the workers; returns null when all succeeded, else what ended the job (the others stopped). */
    private String supervise() throws InterruptedException {
        long started = System.currentTimeMillis();
        long hungAfter = hungAfter().toMillis();
        while (true) {
            if (ended.stream().anyMatch(rank -> exitCode(rank) != 0)) {
                Thread.sleep(SETTLE_MS);
                String cause = cause();
                stopAll();
                return cause + "; stopped the other workers";
            }
            if (ended.size() == nproc) {
                return null;
            }
            for (Worker worker : workers) {
                long last = lastHeartbeat(worker, started);
                long silent = System.currentTimeMillis() - last;
                if (worker.process().isAlive() && silent > hungAfter) {
                    stopAll();
                    return worker.describe(nproc) + " stopped responding: no heartbeat for " + silent / 1000
                            + " s (hung or stopped); stopped the other workers";
                }
            }
            Thread.sleep(POLL_MS);
        }
    }

    /**
     * The failure that ended the job: a rank killed by a signal first, else the first to fail on its own
     * (not because it lost the group), else the first to fail.
     */
    private String cause() {
        List<Integer> failed =
                ended.stream().filter(rank -> exitCode(rank) != 0).toList();
        int rank = failed.stream()
                .filter(r -> killedBySignal(exitCode(r)))
                .findFirst()
                .or(() -> failed.stream()
                        .filter(r -> exitCode(r) != DistributedWorker.LOST_GROUP)
                        .findFirst())
                .orElse(failed.getFirst());
        int code = exitCode(rank);
        return workers.get(rank).describe(nproc)
                + (killedBySignal(code)
                        ? " was killed by signal " + (code - 128) + " (exit code " + code + ")"
                        : " failed with exit code " + code + " (its error is above)");
    }

    private int exitCode(int rank) {
        return workers.get(rank).process().exitValue();
    }

    private static boolean killedBySignal(int code) {
        // Like a shell: 128 + n is the signal n that ended the process.
        return code > 128 && code < 160;
    }

    private static long lastHeartbeat(Worker worker, long started) {
        try {
            return Math.max(
                    started, Files.getLastModifiedTime(worker.heartbeat()).toMillis());
        } catch (IOException notYet) {
            return started;
        }
    }

    private void stopAll() throws InterruptedException {
        workers.forEach(w -> w.process().destroy());
        for (Worker worker : workers) {
            if (!worker.process().waitFor(GRACE_MS, TimeUnit.MILLISECONDS)) {
                worker.process().destroyForcibly();
            }
        }
    }

    /** This JVM again (its options, class path and batchtopk.* properties) running the worker's command. */
    private static List<String> command(List<String> workerArgs) {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        for (String option : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            // A debugger's or profiler's agent would fight over one port or file; the workers run without.
            if (!option.startsWith("-agentlib")
                    && !option.startsWith("-javaagent")
                    && !option.startsWith("-Dbatchtopk.")) {
                command.add(option);
            }
        }
        for (String name : System.getProperties().stringPropertyNames()) {
            if (name.startsWith("batchtopk.")) {
                command.add("-D" + name + "=" + System.getProperty(name));
            }
        }
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(Main.class.getName());
        command.addAll(workerArgs);
        return command;
    }

    private static Thread relay(InputStream from, PrintWriter to, String prefix) {
        Thread thread = new Thread(
                () -> {
                    try (BufferedReader lines =
                            new BufferedReader(new InputStreamReader(from, StandardCharsets.UTF_8))) {
                        for (String line = lines.readLine(); line != null; line = lines.readLine()) {
                            synchronized (to) {
                                to.println(prefix + line);
                            }
                        }
                    } catch (IOException ignored) {
                        // The worker is gone; its exit code tells what happened.
                    }
                },
                "relay " + prefix);
        thread.setDaemon(true);
        thread.start();
        return thread;
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    /** The port, once it is known that nothing listens on it: one clear error now beats one from each worker. */
    private static int requireFree(int port) {
        try (ServerSocket socket = new ServerSocket(port)) {
            return port;
        } catch (IOException e) {
            throw new CommandFailure("--master-port " + port + " is in use on this machine (" + e.getMessage()
                    + "): give another port, or leave --master-port out to let the launcher pick a free one");
        }
    }

    private static void deleteTree(Path tree) throws IOException {
        try (Stream<Path> paths = Files.walk(tree)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
