package ai.batchtopk.training;

import ai.batchtopk.BatchTopKException;
import ai.batchtopk.Checkpoint;
import ai.batchtopk.ErrorMessages;
import ai.batchtopk.NativeLibrary;
import ai.batchtopk.ProcessGroup;
import ai.batchtopk.Status;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;

/**
 * A {@code train} process that is one worker of a distributed run ({@link WorkerEnvironment}): it joins
 * the group, keeps in touch with the launcher that started it (if one did), and trains its share; the
 * library's {@code TrainingRun} does the rest (rank 0 writes).
 */
final class DistributedWorker {
    /**
     * How long a worker waits for the others, to meet and in each collective (a rank that dies makes the
     * others fail at once: its connections close; one that hangs, within this time).
     */
    static final Duration TIMEOUT = Duration.ofSeconds(Long.getLong("batchtopk.dist.timeout-s", 300));

    /** Tells a worker which process supervises it, so that it stops when that process is gone. */
    static final String LAUNCHER_PID = "BATCHTOPK_LAUNCHER_PID";

    /** A file the worker touches every second, so that its launcher can tell a hung worker. */
    static final String HEARTBEAT = "BATCHTOPK_HEARTBEAT";

    static final Duration HEARTBEAT_PERIOD = Duration.ofSeconds(1);

    /**
     * The exit code of a worker that failed because another rank did (its group was lost): its launcher
     * then names the rank that failed first on its own, whatever order the processes ended in.
     */
    static final int LOST_GROUP = 3;

    private DistributedWorker() {}

    /** The training a command does, run once this process has joined its group. */
    @FunctionalInterface
    interface Training {
        int run() throws IOException;
    }

    /** Runs {@code training} as the worker {@code env} names: joined to its group, in touch with its launcher. */
    static int run(TrainCommand c, WorkerEnvironment env, Training training) throws IOException {
        keepInTouch(System.getenv());
        NativeLibrary.setNumThreads(c.threads != null ? c.threads : defaultThreads(env));
        PrintWriter err = c.spec.commandLine().getErr();
        try (ProcessGroup joined = join(env, DistributedOptions.describeMode(c), err)) {
            c.group = joined;
            return training.run();
        } catch (RuntimeException e) {
            if (!lostGroup(e)) {
                throw e;
            }
            err.println("error: " + ErrorMessages.describe(e));
            return LOST_GROUP;
        } finally {
            c.group = null;
        }
    }

    private static boolean lostGroup(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof BatchTopKException b && b.status() == Status.COMMUNICATION) {
                return true;
            }
        }
        return false;
    }

    /**
     * Joins the group the environment names (rank 0 hosts the TCPStore); rank 0 says which backend, and
     * the {@code mode} of training.
     *
     * @throws CommandFailure when this build cannot, or the group does not assemble (naming why)
     */
    static ProcessGroup join(WorkerEnvironment env, String mode, PrintWriter err) {
        if (!ProcessGroup.available()) {
            throw new CommandFailure(WorkerEnvironment.WORLD_SIZE + " is set (" + env.worldSize() + ") but this build"
                    + " of batchtopk has no distributed support (libtorch's c10d with Gloo): rebuild it against a"
                    + " libtorch with Gloo (Debian: apt-get install libgloo-dev) (" + NativeLibrary.buildInfo() + ")");
        }
        ProcessGroup group;
        try {
            group = ProcessGroup.join(env.rank(), env.worldSize(), env.masterAddress(), env.masterPort(), TIMEOUT);
        } catch (BatchTopKException e) {
            throw new CommandFailure(
                    "rank " + env.rank() + " of " + env.worldSize() + " could not join the group at "
                            + env.masterAddress() + ":" + env.masterPort() + ": " + e.getMessage(),
                    e);
        }
        if (env.rank() == 0) {
            // The backend is chosen by the build: Gloo on the CPU here (a CUDA build of the step would take NCCL).
            err.println("batchtopk: " + mode + " training over " + env.worldSize() + " workers: c10d, backend gloo"
                    + " (cpu), meeting at " + env.masterAddress() + ":" + env.masterPort());
        }
        return group;
    }

    /**
     * Native threads of a worker when {@code --threads} is not given: this machine's cores shared by its
     * workers (LOCAL_WORLD_SIZE), so that N workers do not each start a thread per core.
     */
    static int defaultThreads(WorkerEnvironment env) {
        return Math.max(1, Runtime.getRuntime().availableProcessors() / env.localWorldSize());
    }

    /**
     * Moves back a checkpoint a kill left half saved (rank 0 does it; the others wait for it before they
     * read the run's files).
     */
    static void recover(Path dir, ProcessGroup group) throws IOException {
        if (group == null || group.rank() == 0) {
            Checkpoint.recover(dir);
        }
        if (group != null) {
            group.barrier();
        }
    }

    /**
     * Under a {@code train --nproc} launcher: a daemon thread that touches the heartbeat file every second
     * and stops this JVM when the launcher is gone (killed with -9, say), so that no worker is left behind
     * training or waiting for the others. Does nothing for workers other launchers started.
     */
    static void keepInTouch(Map<String, String> env) {
        String pid = env.get(LAUNCHER_PID);
        if (pid == null) {
            return;
        }
        long launcher;
        try {
            launcher = Long.parseLong(pid.strip());
        } catch (NumberFormatException e) {
            throw new CommandFailure(LAUNCHER_PID + "='" + pid + "' is not a process id");
        }
        Path heartbeat = env.get(HEARTBEAT) == null ? null : Path.of(env.get(HEARTBEAT));
        Thread watch = new Thread(
                () -> {
                    while (ProcessHandle.of(launcher)
                            .map(ProcessHandle::isAlive)
                            .orElse(false)) {
                        try {
                            if (heartbeat != null) {
                                beat(heartbeat);
                            }
                            Thread.sleep(HEARTBEAT_PERIOD.toMillis());
                        } catch (InterruptedException e) {
                            return;
                        }
                    }
                    System.err.println("error: the launcher (pid " + launcher + ") is gone; stopping this worker");
                    Runtime.getRuntime().halt(Main.FAILURE);
                },
                "launcher watch");
        watch.setDaemon(true);
        watch.start();
    }

    private static void beat(Path heartbeat) {
        try {
            if (!Files.exists(heartbeat)) {
                Files.createFile(heartbeat);
            }
            Files.setLastModifiedTime(heartbeat, FileTime.from(Instant.now()));
        } catch (IOException e) {
            // The launcher's directory is gone: it is ending the job, and the watch sees it go.
        }
    }
}
