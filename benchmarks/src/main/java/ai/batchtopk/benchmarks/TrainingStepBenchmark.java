package ai.batchtopk.benchmarks;

import ai.batchtopk.Architecture;
import ai.batchtopk.Device;
import ai.batchtopk.NativeLibrary;
import ai.batchtopk.Sae;
import ai.batchtopk.SaeConfig;
import ai.batchtopk.StepMetrics;
import ai.batchtopk.StepPath;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
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
 * One CPU training step ({@code btk_sae_train_step}: forward, backward, Adam, decoder renormalisation)
 * on the FUSED path against the NAIVE reference path, at the same shape, seed, starting weights and data.
 *
 * <p>Each sample is exactly one step; {@link Mode#SampleTime} keeps every step's time, so the JSON
 * result carries the median and percentiles, not only the mean. Tokens per second are {@code batch /
 * step time}; {@code benchmarks/run-cpu.sh} computes them, and the fused/naive ratio, from the JSON.
 *
 * <p>The step keeps training: the SAE's parameters, Adam moments and theta change every call, as in a
 * real run. {@value #BATCHES} distinct batches of standard-normal activations (fixed seed) are cycled so
 * the step does not see one batch forever. The data lives off-heap and is handed to native code by
 * address, as the trainer does.
 *
 * <p>Run with {@code benchmarks/run-cpu.sh}, or by hand:
 * <pre>
 * java --enable-native-access=ALL-UNNAMED -Dbatchtopk.library=native/build/libbatchtopk.so \
 *      -jar benchmarks/target/benchmarks.jar TrainingStepBenchmark -p dIn=512 -p dSae=8192
 * </pre>
 * The forked JVM inherits the parent's JVM options (JMH does this when no {@code jvmArgs} are given),
 * so {@code -Dbatchtopk.library} reaches it; without it the library is looked for in the usual places
 * ({@link NativeLibrary}).
 *
 * <p>Timing budget on a 2-core machine at the default shape: a naive step is ~1.3-2 s, a fused step
 * ~0.3 s. Warm-up 3 x 5 s and measurement 10 x 10 s give ~50-75 naive and ~300 fused timed steps, about
 * 4-5 minutes in all. Override with JMH's {@code -wi -w -i -r} for other shapes.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 5, timeUnit = TimeUnit.SECONDS)
@Measurement(iterations = 10, time = 10, timeUnit = TimeUnit.SECONDS)
@Fork(
        value = 1,
        jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
@Threads(1)
public class TrainingStepBenchmark {

    /** Distinct batches cycled through. */
    static final int BATCHES = 4;
    /** Seed of the SAE's initialisation, the same for both paths. */
    static final long SAE_SEED = 20240601L;
    /** Seed of the activations, the same for both paths. */
    static final long DATA_SEED = 12345L;

    /** Step implementation: fused or naive. */
    @Param({"fused", "naive"})
    public String path;

    /** Width of the activations, d. */
    @Param({"512"})
    public long dIn;

    /** Number of latents, F. */
    @Param({"8192"})
    public long dSae;

    /** Tokens per step, B. */
    @Param({"2048"})
    public int batch;

    /** Active latents per token. */
    @Param({"32"})
    public int k;

    /** Architecture: batchtopk, topk, jumprelu or relu. */
    @Param({"batchtopk"})
    public String arch;

    /** libtorch intra-op threads for the step; 0 keeps the library's default (reported in the setup line). */
    @Param({"0"})
    public int threads;

    private Arena arena;
    private MemorySegment[] batches;
    private Sae sae;
    private int next;
    private StepMetrics last;

    @Setup(Level.Trial)
    public void setUp() {
        NativeLibrary.load();
        if (threads < 0) {
            throw new IllegalArgumentException("threads must be >= 0, got " + threads);
        }
        // Set from the thread that will run the steps (JMH runs trial setup on the benchmark thread).
        NativeLibrary.setNumThreads(threads);
        StepPath stepPath = StepPath.valueOf(path.toUpperCase(Locale.ROOT));
        SaeConfig config = SaeConfig.builder(dIn, dSae)
                .architecture(Architecture.fromCliName(arch))
                .k(k)
                .seed(SAE_SEED)
                .device(Device.CPU)
                .path(stepPath)
                .build();
        sae = Sae.create(config);

        arena = Arena.ofShared();
        batches = new MemorySegment[BATCHES];
        SplittableRandom random = new SplittableRandom(DATA_SEED);
        long floats = (long) batch * dIn;
        for (int b = 0; b < BATCHES; b++) {
            MemorySegment segment = arena.allocate(ValueLayout.JAVA_FLOAT, floats);
            for (long i = 0; i < floats; i++) {
                segment.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) random.nextGaussian());
            }
            batches[b] = segment;
        }
        next = 0;
        System.out.printf(
                Locale.ROOT,
                "%n# setup: %s; library %s; torch threads %d; path %s; d=%d F=%d B=%d k=%d arch=%s%n",
                NativeLibrary.buildInfo(),
                NativeLibrary.load(),
                NativeLibrary.setNumThreads(0),
                stepPath,
                dIn,
                dSae,
                batch,
                k,
                arch);
    }

    @Benchmark
    public StepMetrics step() {
        MemorySegment data = batches[next];
        next = (next + 1) % BATCHES;
        last = sae.trainStep(data, batch);
        return last;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (last != null) {
            // A sanity line: both paths trained (they ran different numbers of steps, so values differ).
            System.out.printf(
                    Locale.ROOT,
                    "%n# last step (%s): step=%d loss=%.6g nmse=%.4f l0=%.2f dead=%d theta=%.4g%n",
                    path,
                    last.step(),
                    last.loss(),
                    last.nmse(),
                    last.l0(),
                    last.dead(),
                    last.theta());
        }
        if (sae != null) {
            sae.close();
        }
        if (arena != null) {
            arena.close();
        }
    }
}
