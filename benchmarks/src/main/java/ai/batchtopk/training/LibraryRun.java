package ai.batchtopk.training;

import ai.batchtopk.Sae;
import ai.batchtopk.SaeConfig;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The training loop that {@code train} runs ({@link Trainer}), driven directly from Java, without the
 * command line: files in, sequential batches (with or without the prefetch thread), one SAE, a metrics
 * line every step, no evaluation and no checkpoint but the final save. For {@code
 * benchmarks/cli-vs-step.sh}, which compares its tokens/s with the CLI's and the bare step's.
 *
 * <p>It sits in the training package only because {@link Trainer} is package-private today; when the
 * loop is a public library API, this becomes a call to that API and moves to the benchmarks package.
 */
public final class LibraryRun {
    private LibraryRun() {}

    /** Trains a new SAE of {@code config} on {@code data} for {@code steps} steps, logging into {@code out}. */
    public static void train(Path data, SaeConfig config, long batchSize, long steps, int prefetch, Path out)
            throws IOException {
        OutputDirectory output = OutputDirectory.prepare(out);
        try (Arena arena = Arena.ofShared();
                Sae sae = Sae.create(config);
                MetricsLog log = MetricsLog.open(output.metricsFile(), false)) {
            ActivationData activations = ActivationData.open(List.of(data), arena);
            RowStream stream = new SequentialBatches(activations, batchSize, DataPosition.START, arena);
            PrefetchingBatches prefetching = prefetch > 0 ? new PrefetchingBatches(stream, prefetch, arena) : null;
            try {
                BatchSource batches = prefetching != null ? prefetching : (BatchSource) stream;
                Trainer.Member member = new Trainer.Member("sae", sae, output, log, null, Map.of(), 0, 0);
                Trainer.Plan plan = new Trainer.Plan(steps, new LrSchedule(config.lr(), steps, 0, LrSchedule.Decay.NONE, 0),
                        LogSchedule.of(steps, 1L), 0, 0, activations.rows(), "sequential", "library-run", null, out);
                new Trainer(List.of(member), batches, RowOrigin.sequential(activations), plan, null, null).run();
            } finally {
                if (prefetching != null) {
                    prefetching.close();
                }
            }
        }
    }
}
