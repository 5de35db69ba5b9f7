package ai.batchtopk.training;

import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine.Option;

/** The {@code train} options of the held-out evaluation. */
final class EvalOptions {
    @Option(
            names = "--eval-data",
            paramLabel = "FILE|DIR",
            description = "Held-out activations to evaluate on (same forms as --data); lines go to eval.jsonl.")
    List<Path> evalData;

    @Option(
            names = "--eval-every",
            paramLabel = "N",
            description = "Evaluate every N steps and at the end (default: about 10 times per run).")
    Long evalEvery;

    @Option(
            names = "--eval-tokens",
            paramLabel = "N",
            defaultValue = "16384",
            description = "Rows of --eval-data to evaluate on: the first N (default: 16384).")
    long evalTokens;
}
