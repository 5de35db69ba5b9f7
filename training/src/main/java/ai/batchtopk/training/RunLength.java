package ai.batchtopk.training;

import picocli.CommandLine.Option;

/** How long {@code train} trains: a step count or a token count (one of them). */
final class RunLength {
    @Option(
            names = "--steps",
            required = true,
            paramLabel = "N",
            description = "Optimizer steps to take (this or --tokens is required).")
    Long steps;

    @Option(
            names = "--tokens",
            required = true,
            paramLabel = "N",
            description = "Tokens to train on: ceil(N / batch size) steps.")
    Long tokens;

    long steps(long batchSize) {
        return steps != null ? steps : Math.ceilDiv(tokens, batchSize);
    }
}
