package ai.batchtopk.reliability;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Starts a JVM for one case: the command-line jar users run, or a driver class of this module. It runs
 * in its own directory, where its stdout, stderr and any hs_err file land; under a time limit (then it
 * is killed: a hang counts as a crash), a limit on its address space (so a runaway allocation fails in
 * the child and never takes memory from the machine), and without core dumps.
 */
final class ChildJvm {
    /** Address space of a child unless a case asks otherwise: room for the JVM, libtorch and ONNX Runtime. */
    static final long DEFAULT_ADDRESS_SPACE_MB = 8 * 1024;

    private final List<String> target;
    private final Path dir;
    // Serial GC and C1 only: a child is short-lived, and starting ~100 of them is much of the suite's time.
    private final List<String> jvmOptions =
            new ArrayList<>(List.of("-Xmx1g", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData"));
    private Duration timeout = Duration.ofSeconds(120);
    private long addressSpaceMb = DEFAULT_ADDRESS_SPACE_MB;

    private ChildJvm(List<String> target, Path dir) {
        this.target = target;
        try {
            this.dir = Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** {@code java -jar batchtopk-cli.jar ...}: the command line as shipped. */
    static ChildJvm cli(Path dir) {
        String jar = System.getProperty("batchtopk.cli.jar");
        if (jar == null || !Files.isRegularFile(Path.of(jar))) {
            throw new IllegalStateException("the CLI jar " + jar + " is missing: build the training module first"
                    + " (mvn verify -pl reliability -am)");
        }
        return new ChildJvm(List.of("-jar", jar), dir);
    }

    /** A driver class of this module, on this JVM's class path. */
    static ChildJvm driver(Class<?> main, Path dir) {
        return new ChildJvm(List.of("-cp", System.getProperty("java.class.path"), main.getName()), dir);
    }

    ChildJvm jvmOption(String option) {
        jvmOptions.add(option);
        return this;
    }

    ChildJvm timeout(Duration value) {
        timeout = value;
        return this;
    }

    ChildJvm addressSpaceMb(long value) {
        addressSpaceMb = value;
        return this;
    }

    Path dir() {
        return dir;
    }

    /** Runs to the end (or the time limit). */
    ChildRun run(Object... args) {
        long start = System.nanoTime();
        Process process = start(args);
        try {
            boolean finished = process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
            if (!finished) {
                process.descendants().forEach(ProcessHandle::destroyForcibly);
                process.destroyForcibly();
                process.waitFor();
            }
            return result(process, !finished, Duration.ofNanos(System.nanoTime() - start));
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    /** Starts it and returns at once (to kill it, or change its files, while it runs). */
    Process start(Object... args) {
        List<String> command = new ArrayList<>(
                List.of("bash", "-c", "ulimit -c 0; ulimit -v " + addressSpaceMb * 1024 + "; exec \"$@\"", "child"));
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.add("--enable-native-access=ALL-UNNAMED");
        command.add("-XX:ErrorFile=" + dir.resolve("hs_err_pid%p.log"));
        String library = System.getProperty("batchtopk.library");
        if (library != null && !library.isBlank()) {
            command.add("-Dbatchtopk.library=" + library);
        }
        command.addAll(jvmOptions);
        command.addAll(target);
        for (Object a : args) {
            command.add(String.valueOf(a));
        }
        ProcessBuilder builder = new ProcessBuilder(command)
                .directory(dir.toFile())
                .redirectOutput(dir.resolve("stdout").toFile())
                .redirectError(dir.resolve("stderr").toFile());
        try {
            Files.writeString(dir.resolve("command"), String.join(" ", command.subList(4, command.size())) + "\n");
            return builder.start();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** What a process started by {@link #start} did, once it has ended. */
    ChildRun result(Process process, boolean timedOut, Duration took) {
        try {
            List<Path> hsErr;
            try (Stream<Path> files = Files.list(dir)) {
                hsErr = files.filter(p -> p.getFileName().toString().startsWith("hs_err_pid"))
                        .sorted()
                        .toList();
            }
            return new ChildRun(process.exitValue(), read("stdout"), read("stderr"), timedOut, hsErr, took);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private String read(String name) throws IOException {
        Path file = dir.resolve(name);
        return Files.exists(file) ? new String(Files.readAllBytes(file), StandardCharsets.UTF_8) : "";
    }
}
