package ai.batchtopk.benchmarks;

import ai.batchtopk.SaeConfig;
import ai.batchtopk.data.ActivationFiles;
import ai.batchtopk.data.RowOrder;
import ai.batchtopk.train.RunSpec;
import ai.batchtopk.train.TrainingRun;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * The training loop that {@code train} runs, driven through the library's public API ({@link TrainingRun}),
 * without the command line: files in, sequential batches (with or without the prefetch thread), one SAE,
 * a metrics line every step, no evaluation and no checkpoint but the final save. For {@code
 * benchmarks/cli-vs-step.sh}, which compares its tokens/s with the CLI's and the bare step's.
 */
final class LibraryRun {
    private LibraryRun() {}

    /** Trains a new SAE of {@code config} on {@code data} for {@code steps} steps, logging into {@code out}. */
    static void train(Path data, SaeConfig config, long batchSize, long steps, int prefetch, Path out)
            throws IOException {
        RunSpec spec = RunSpec.builder(new ActivationFiles(List.of(data), RowOrder.SEQUENTIAL), out)
                .sae(config)
                .batchSize(batchSize)
                .steps(steps)
                .logEvery(1)
                .prefetch(prefetch)
                .build();
        try (TrainingRun run = TrainingRun.start(spec)) {
            run.train();
        }
    }
}
