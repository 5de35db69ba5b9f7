package ai.batchtopk.benchmarks;

import ai.batchtopk.io.DType;
import ai.batchtopk.io.Npy;
import ai.batchtopk.io.Tensor;
import ai.batchtopk.training.Main;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Three SAEs ({@code k = 16, 32, 64}) trained by one {@code train --sweep k=16,32,64} run (one pass over
 * the data, each batch fed to the three in turn) against three separate {@code train} runs over the
 * same data: the wall time of the whole job, each operation being the whole job (SingleShotTime).
 *
 * <p>Both go through the real command line ({@link Main#run}, in this JVM), with the default data
 * pipeline (full shuffle, prefetch thread), so they differ only in how often the data is opened,
 * shuffled, gathered and copied (and, with {@code cache=cold}, read from storage), and in the per-run
 * set-up and final save. {@code steps x batch} is one pass over the data (32 x 4096 = 131072 rows). The three separate runs
 * train exactly the same three SAEs as the sweep (same seed, same batches; see TrainingRunTest).
 *
 * <pre>
 * java --enable-native-access=ALL-UNNAMED -Dbatchtopk.library=native/build/libbatchtopk.so \
 *      -jar benchmarks/target/benchmarks.jar SweepBenchmark
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 1)
@Measurement(iterations = 3)
@Fork(
        value = 1,
        jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
@Threads(1)
public class SweepBenchmark {
    @Param({"sweep", "separate"})
    public String mode;

    @Param({"512"})
    public int d;

    @Param({"1024"})
    public int dSae;

    @Param({"131072"})
    public int rows;

    @Param({"4096"})
    public int batch;

    @Param({"32"})
    public int steps;

    /**
     * warm: the data stays in the page cache (a data set that fits in memory); cold: it is evicted
     * ({@code posix_fadvise(DONTNEED)}) before every training run, as for a data set larger than the
     * memory, which every run must read from storage again.
     */
    @Param({"warm", "cold"})
    public String cache;

    private Path dir;
    private Path data;
    private int run;
    private final PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        dir = Files.createTempDirectory("batchtopk-sweep");
        data = dir.resolve("activations.npy");
        SplittableRandom random = new SplittableRandom(3);
        try (Arena scratch = Arena.ofConfined()) {
            Tensor t = Tensor.allocate(DType.F32, new long[] {rows, d}, scratch);
            for (long i = 0; i < (long) rows * d; i++) {
                t.data().setAtIndex(Tensor.F32_LE, i, (float) random.nextGaussian());
            }
            Npy.write(data, t);
        }
        System.out.printf(
                Locale.ROOT,
                "%n# setup: %s; data %d x %d F32 (%.0f MiB); 3 SAEs d_sae=%d k=16,32,64; %d steps of %d%n",
                mode,
                rows,
                d,
                (double) rows * d * 4 / (1 << 20),
                dSae,
                steps,
                batch);
    }

    private List<String> common(Path out) {
        return new ArrayList<>(List.of(
                "train",
                "--data",
                data.toString(),
                "--d-sae",
                Integer.toString(dSae),
                "--batch-size",
                Integer.toString(batch),
                "--steps",
                Integer.toString(steps),
                "--seed",
                "1",
                "--out",
                out.toString()));
    }

    private void train(List<String> args) {
        if (cache.equals("cold")) {
            evict(data);
        }
        int code = Main.run(quiet, System.err, args.toArray(String[]::new));
        if (code != 0) {
            throw new IllegalStateException("train failed (exit " + code + "): " + args);
        }
    }

    @Benchmark
    public void threeSaes() {
        Path out = dir.resolve("run-" + run++);
        if (mode.equals("sweep")) {
            List<String> args = common(out);
            args.addAll(List.of("--sweep", "k=16,32,64"));
            train(args);
        } else {
            for (int k : new int[] {16, 32, 64}) {
                List<String> args = common(out.resolve("k" + k));
                args.addAll(List.of("--k", Integer.toString(k)));
                train(args);
            }
        }
    }

    private static final int POSIX_FADV_DONTNEED = 4;

    /** Drops the file's clean pages from the page cache (Linux; needs no privileges). */
    static void evict(Path file) {
        Linker linker = Linker.nativeLinker();
        SymbolLookup libc = linker.defaultLookup();
        try (Arena arena = Arena.ofConfined()) {
            MethodHandle open = linker.downcallHandle(
                    libc.find("open").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
            MethodHandle fadvise = linker.downcallHandle(
                    libc.find("posix_fadvise").orElseThrow(),
                    FunctionDescriptor.of(
                            ValueLayout.JAVA_INT,
                            ValueLayout.JAVA_INT,
                            ValueLayout.JAVA_LONG,
                            ValueLayout.JAVA_LONG,
                            ValueLayout.JAVA_INT));
            MethodHandle close = linker.downcallHandle(
                    libc.find("close").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
            int fd = (int) open.invokeExact(arena.allocateFrom(file.toString()), 0);
            if (fd < 0) {
                throw new IllegalStateException("open failed: " + file);
            }
            int rc = (int) fadvise.invokeExact(fd, 0L, 0L, POSIX_FADV_DONTNEED);
            int ignored = (int) close.invokeExact(fd);
            if (rc != 0) {
                throw new IllegalStateException("posix_fadvise failed: " + rc);
            }
        } catch (Throwable e) {
            throw new IllegalStateException("cannot evict " + file + " from the page cache", e);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
