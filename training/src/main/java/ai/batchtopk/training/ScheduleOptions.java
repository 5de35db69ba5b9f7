package ai.batchtopk.training;

import picocli.CommandLine.Option;

/** The {@code train} options that set the batch size and the learning rate ({@link RunLength}: how long). */
final class ScheduleOptions {
    @Option(names = "--batch-size", paramLabel = "B", description = "Tokens per step (required).")
    Long batchSize;

    @Option(names = "--lr", paramLabel = "LR", description = "Adam learning rate (default: 3e-4).")
    Double lr;

    @Option(
            names = "--lr-warmup-steps",
            paramLabel = "N",
            defaultValue = "0",
            description = "Raise the learning rate linearly from 0 over the first N steps (default: 0).")
    long lrWarmupSteps;

    @Option(
            names = "--lr-decay",
            paramLabel = "SHAPE",
            defaultValue = "none",
            description = "none, linear or cosine: decay the learning rate after the warm-up (default: none).")
    String lrDecay;

    @Option(
            names = "--lr-end-fraction",
            paramLabel = "X",
            defaultValue = "0",
            description = "With --lr-decay, the rate falls towards X * lr at the end of the run (default: 0).")
    double lrEndFraction;
}
