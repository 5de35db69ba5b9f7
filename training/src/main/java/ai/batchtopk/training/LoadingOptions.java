package ai.batchtopk.training;

import picocli.CommandLine.Option;

/** The {@code train} options that set how batches are read from the activation files. */
final class LoadingOptions {
    @Option(
            names = "--shuffle",
            negatable = true,
            defaultValue = "true",
            fallbackValue = "true",
            description = "Visit rows in a seeded random order, new each epoch (default), or in file order.")
    boolean shuffle;

    @Option(
            names = "--shuffle-buffer",
            paramLabel = "ROWS",
            defaultValue = "0",
            description = "Shuffle within windows of ROWS consecutive rows (windows in random order) instead of"
                    + " over all rows: a working set of ROWS rows; 0 (default): one permutation of all rows.")
    long shuffleBuffer;

    @Option(
            names = "--prefetch",
            paramLabel = "N",
            defaultValue = "2",
            description = "Batches a background thread prepares ahead into off-heap buffers (default: 2; 0: none).")
    int prefetch;
}
