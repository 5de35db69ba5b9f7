package ai.batchtopk.training;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The {@code train} options that say where the run goes and how often it writes metrics and checkpoints. */
final class OutputOptions {
    @Option(
            names = "--out",
            paramLabel = "DIR",
            description = "Where the SAE and metrics go (required; with --sweep, one subdirectory per SAE)."
                    + " It must be new or empty (or the --init directory, to go on in place).")
    Path out;

    @Option(
            names = "--overwrite",
            description = "Replace the training run already in --out (only if it holds nothing but a run's files).")
    boolean overwrite;

    @Option(
            names = "--checkpoint-every",
            paramLabel = "N",
            defaultValue = "0",
            description = "Save a checkpoint every N steps (atomically; default 0: only at the end).")
    long checkpointEvery;

    @Option(
            names = "--log-every",
            paramLabel = "N",
            description = "A metrics line every N steps (default: every step up to 200 steps, else ~200 lines).")
    Long logEvery;
}
