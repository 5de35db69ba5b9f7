package ai.batchtopk.benchmarks;

import ai.batchtopk.NativeLibrary;
import ai.batchtopk.Sae;
import ai.batchtopk.SaeConfig;
import ai.batchtopk.StepMetrics;
import ai.batchtopk.data.DataPipeline;
import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * The two in-process contenders of {@code benchmarks/cli-vs-step.sh} (which runs the CLI itself and
 * reads everyone's tokens/s):
 *
 * <pre>
 * CliVsStep library DATA OUT F K B STEPS PREFETCH THREADS   # the training loop, driven from Java; writes OUT/metrics.jsonl
 * CliVsStep step    DATA -   F K B STEPS 0        THREADS   # the bare step on the same batches, as in TrainingStepBenchmark
 * CliVsStep gauss   -    -   F K B STEPS 0        THREADS   # the bare step on TrainingStepBenchmark's own data
 * </pre>
 *
 * {@code THREADS} 0 keeps the native library's default, as TrainingStepBenchmark does. The step modes
 * print one line per step ({@code step <n> <seconds> dead <latents>}), timed around {@code Sae.trainStep} alone; the
 * script drops the warm-up steps.
 */
public final class CliVsStep {
    private CliVsStep() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 9) {
            throw new IllegalArgumentException("usage: library|step|gauss DATA OUT F K B STEPS PREFETCH THREADS");
        }
        String mode = args[0];
        long dSae = Long.parseLong(args[3]);
        int k = Integer.parseInt(args[4]);
        int batch = Integer.parseInt(args[5]);
        long steps = Long.parseLong(args[6]);
        int prefetch = Integer.parseInt(args[7]);
        int threads = Integer.parseInt(args[8]);
        NativeLibrary.load();
        NativeLibrary.setNumThreads(threads);
        switch (mode) {
            case "library" -> {
                Path data = Path.of(args[1]);
                long dIn = width(data);
                LibraryRun.train(
                        data, SaeConfig.builder(dIn, dSae).k(k).build(), batch, steps, prefetch, Path.of(args[2]));
            }
            case "step" -> {
                Path data = Path.of(args[1]);
                try (Arena arena = Arena.ofShared();
                        DataPipeline batches =
                                DataPipeline.open(List.of(data), batch, DataPipeline.Order.SEQUENTIAL, 0, 0, 0, arena);
                        Sae sae = Sae.create(
                                SaeConfig.builder(batches.width(), dSae).k(k).build())) {
                    for (long s = 1; s <= steps; s++) {
                        Tensor t = batches.next();
                        long start = System.nanoTime();
                        report(s, start, sae.trainStep(t));
                    }
                }
            }
            case "gauss" -> {
                // TrainingStepBenchmark's data: 4 batches of standard-normal activations, cycled.
                long dIn = 512;
                try (Arena arena = Arena.ofShared();
                        Sae sae = Sae.create(SaeConfig.builder(dIn, dSae).k(k).build())) {
                    MemorySegment[] segments = new MemorySegment[4];
                    SplittableRandom random = new SplittableRandom(12345L);
                    for (int b = 0; b < segments.length; b++) {
                        segments[b] = arena.allocate(ValueLayout.JAVA_FLOAT, (long) batch * dIn);
                        for (long i = 0; i < (long) batch * dIn; i++) {
                            segments[b].setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) random.nextGaussian());
                        }
                    }
                    for (long s = 1; s <= steps; s++) {
                        long start = System.nanoTime();
                        report(s, start, sae.trainStep(segments[(int) (s % segments.length)], batch));
                    }
                }
            }
            default -> throw new IllegalArgumentException("mode must be library, step or gauss, got " + mode);
        }
    }

    private static void report(long step, long start, StepMetrics metrics) {
        long end = System.nanoTime();
        System.out.printf(Locale.ROOT, "step %d %.6f dead %d%n", step, (end - start) / 1e9, metrics.dead());
    }

    private static long width(Path data) throws Exception {
        try (Arena arena = Arena.ofConfined();
                DataPipeline pipeline =
                        DataPipeline.open(List.of(data), 1, DataPipeline.Order.SEQUENTIAL, 0, 0, 0, arena)) {
            return pipeline.width();
        }
    }
}
