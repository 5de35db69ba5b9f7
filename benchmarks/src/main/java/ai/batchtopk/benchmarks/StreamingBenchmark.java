package ai.batchtopk.benchmarks;

import ai.batchtopk.data.DataPipeline;
import ai.batchtopk.io.DType;
import ai.batchtopk.io.Npy;
import ai.batchtopk.io.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
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
 * Batches per second delivered by the training data pipeline ({@link DataPipeline}, exactly what
 * {@code train} uses) from memory-mapped .npy shards, against the raw read bandwidth of the same
 * files.
 *
 * <p>Every mode hands the benchmark thread one {@code batch x d} F32 batch per operation and the
 * benchmark thread reads all of it (a float sum, standing in for the training step's read of the
 * batch), so the modes differ only in how the batch was produced:
 * <ul>
 *   <li>{@code raw}: the next {@code batch} rows of the mapping, summed in place: the read bandwidth,
 *       no pipeline at all (the ceiling);</li>
 *   <li>{@code sequential}: {@code --no-shuffle --prefetch 0}: views of the mapping inside a file;</li>
 *   <li>{@code sequential-prefetch}: {@code --no-shuffle --prefetch 2}: copied into the ring by a thread;</li>
 *   <li>{@code shuffled}: {@code --prefetch 0}: rows of a full permutation gathered on the benchmark thread;</li>
 *   <li>{@code shuffled-prefetch}: the default ({@code --prefetch 2}): gathered by the prefetch thread;</li>
 *   <li>{@code window-prefetch}: {@code --shuffle-buffer 65536 --prefetch 2}.</li>
 * </ul>
 * The shards are written once per trial into the temporary directory and are in the page cache
 * afterwards: this measures the pipeline and memory bandwidth, not a disk. With {@code -prof gc},
 * {@code gc.alloc.rate.norm} is the heap bytes allocated per batch: 0 (within JMH's noise) for every
 * mode, i.e. no activation byte and no per-step object on the Java heap.
 *
 * <pre>
 * java --enable-native-access=ALL-UNNAMED -Dbatchtopk.library=native/build/libbatchtopk.so \
 *      -jar benchmarks/target/benchmarks.jar StreamingBenchmark -prof gc
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 3, timeUnit = TimeUnit.SECONDS)
@Measurement(iterations = 5, time = 3, timeUnit = TimeUnit.SECONDS)
@Fork(
        value = 1,
        jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
@Threads(1)
public class StreamingBenchmark {
    @Param({"raw", "sequential", "sequential-prefetch", "shuffled", "shuffled-prefetch", "window-prefetch"})
    public String mode;

    /** Width of a row. */
    @Param({"512"})
    public int d;

    /** Rows per batch. */
    @Param({"4096"})
    public int batch;

    /** Shards, of {@code rowsPerShard} rows each. */
    @Param({"4"})
    public int shards;

    @Param({"16384"})
    public int rowsPerShard;

    private Path dir;
    private Arena arena;
    private DataPipeline pipeline;
    private List<MemorySegment> mapped;
    private int shard;
    private long row;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        if (rowsPerShard % batch != 0) {
            throw new IllegalArgumentException("rowsPerShard must be a multiple of batch");
        }
        dir = Files.createTempDirectory("batchtopk-streaming");
        SplittableRandom random = new SplittableRandom(1);
        try (Arena scratch = Arena.ofConfined()) {
            for (int s = 0; s < shards; s++) {
                Tensor t = Tensor.allocate(DType.F32, new long[] {rowsPerShard, d}, scratch);
                for (long i = 0; i < (long) rowsPerShard * d; i++) {
                    t.data().setAtIndex(Tensor.F32_LE, i, (float) random.nextGaussian());
                }
                Npy.write(dir.resolve(String.format(Locale.ROOT, "shard-%03d.npy", s)), t);
            }
        }
        arena = Arena.ofShared();
        mapped = new ArrayList<>();
        for (int s = 0; s < shards; s++) {
            mapped.add(Npy.map(dir.resolve(String.format(Locale.ROOT, "shard-%03d.npy", s)), arena)
                    .data());
        }
        List<Path> data = List.of(dir);
        pipeline = switch (mode) {
            case "raw" -> null;
            case "sequential" -> DataPipeline.open(data, batch, DataPipeline.Order.SEQUENTIAL, 0, 0, 1, arena);
            case "sequential-prefetch" -> DataPipeline.open(data, batch, DataPipeline.Order.SEQUENTIAL, 0, 2, 1, arena);
            case "shuffled" -> DataPipeline.open(data, batch, DataPipeline.Order.SHUFFLED, 0, 0, 1, arena);
            case "shuffled-prefetch" -> DataPipeline.open(data, batch, DataPipeline.Order.SHUFFLED, 0, 2, 1, arena);
            case "window-prefetch" -> DataPipeline.open(data, batch, DataPipeline.Order.SHUFFLED, 65536, 2, 1, arena);
            default -> throw new IllegalArgumentException("unknown mode " + mode);
        };
        System.out.printf(
                Locale.ROOT,
                "%n# setup: %s, %d shards x %d rows x d=%d F32 (%.1f MiB), batch %d rows (%.1f MiB)%n",
                mode,
                shards,
                rowsPerShard,
                d,
                (double) shards * rowsPerShard * d * 4 / (1 << 20),
                batch,
                (double) batch * d * 4 / (1 << 20));
    }

    /** One batch delivered and read. */
    @Benchmark
    public float nextBatch() {
        if (pipeline == null) {
            float total = sum(mapped.get(shard), row * d, (long) batch * d); // the mapping's data, in place
            row += batch;
            if (row == rowsPerShard) {
                row = 0;
                shard = (shard + 1) % shards;
            }
            return total;
        }
        return sum(pipeline.next().data(), 0, (long) batch * d);
    }

    private static float sum(MemorySegment segment, long first, long floats) {
        float a = 0, b = 0, c = 0, e = 0;
        long i = first;
        long end = first + floats;
        for (; i + 4 <= end; i += 4) {
            a += segment.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i);
            b += segment.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i + 1);
            c += segment.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i + 2);
            e += segment.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i + 3);
        }
        return a + b + c + e;
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        if (pipeline != null) {
            pipeline.close();
        }
        arena.close();
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
