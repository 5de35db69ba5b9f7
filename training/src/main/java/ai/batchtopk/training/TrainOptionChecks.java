package ai.batchtopk.training;

import ai.batchtopk.Architecture;
import ai.batchtopk.train.LrSchedule;
import java.util.List;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;

/**
 * The {@code train} options checked on their own, before any file is read: every problem is a usage
 * error (exit 2) naming the option.
 */
final class TrainOptionChecks {
    private final TrainCommand c;

    private TrainOptionChecks(TrainCommand c) {
        this.c = c;
    }

    static void check(TrainCommand options) {
        new TrainOptionChecks(options).checkOptions();
    }

    private void checkOptions() {
        // picocli refuses both (the group is exclusive); none is refused here, since --resume needs neither.
        if (c.input == null) {
            throw usage("Missing required argument (specify one of these): " + inputSynopsis());
        }
        ParseResult given = c.spec.commandLine().getParseResult();
        if (c.input.text != null) {
            if (c.layer == null) {
                throw usage("--text needs --layer L (the model layer whose activations to train on, 0-based)");
            }
            if (c.shuffle && given != null && given.hasMatchedOption("--shuffle")) {
                throw usage("--shuffle cannot be used with --text: rows extracted from text come in document order"
                        + " (to shuffle, write them with 'extract' and train with --data)");
            }
            if (given != null && given.hasMatchedOption("--shuffle-buffer")) {
                throw usage(
                        "--shuffle-buffer cannot be used with --text: rows extracted from text come in document order");
            }
            c.shuffle = false;
            if (c.extractBatchSize != null) {
                positive("--extract-batch-size", c.extractBatchSize);
            }
            TrainSpecs.extractorConfig(c);
        } else {
            for (String option : List.of("--model", "--layer", "--site", "--max-length", "--extract-batch-size")) {
                if (given != null && given.hasMatchedOption(option)) {
                    throw usage(option + " only applies with --text");
                }
            }
        }
        if (c.batchSize == null) {
            throw usage("Missing required option: '--batch-size=B'");
        }
        if (c.out == null) {
            throw usage("Missing required option: '--out=DIR'");
        }
        if (c.length == null) {
            throw usage("Missing required argument (specify one of these): (--steps=N | --tokens=N)");
        }
        positive("--batch-size", c.batchSize);
        if (c.shuffleBuffer < 0) {
            throw usage("--shuffle-buffer must not be negative (0: shuffle over all rows), got " + c.shuffleBuffer);
        }
        if (c.prefetch < 0) {
            throw usage("--prefetch must not be negative (0: no prefetch thread), got " + c.prefetch);
        }
        if (c.lrWarmupSteps < 0) {
            throw usage("--lr-warmup-steps must not be negative, got " + c.lrWarmupSteps);
        }
        try {
            LrSchedule.Decay.parse(c.lrDecay);
        } catch (IllegalArgumentException e) {
            throw usage(e.getMessage());
        }
        if (!(c.lrEndFraction >= 0 && c.lrEndFraction <= 1)) {
            throw usage("--lr-end-fraction must be in [0, 1], got " + c.lrEndFraction);
        }
        if (c.lrWarmupSteps >= steps() && !c.lrDecay.equalsIgnoreCase("none")) {
            throw usage("--lr-warmup-steps " + c.lrWarmupSteps + " leaves no steps to --lr-decay over (the run has "
                    + steps() + ")");
        }
        if (c.checkpointEvery < 0) {
            throw usage("--checkpoint-every must not be negative (0: only at the end), got " + c.checkpointEvery);
        }
        if (c.evalEvery != null) {
            positive("--eval-every", c.evalEvery);
        }
        positive("--eval-tokens", c.evalTokens);
        if ((c.evalEvery != null) && c.evalData == null) {
            throw usage("--eval-every needs --eval-data");
        }
        if (c.sweep != null && !c.sweep.isEmpty() && c.init != null) {
            throw usage("--sweep trains new SAEs; it cannot be combined with --init");
        }
        if (c.overwrite
                && c.init != null
                && c.init.toAbsolutePath()
                        .normalize()
                        .startsWith(c.out.toAbsolutePath().normalize())) {
            throw usage("--overwrite would delete the --init SAE " + c.init + ", which is in --out " + c.out
                    + " (to go on in place, leave --overwrite out)");
        }
        if (c.length.steps != null) {
            positive("--steps", c.length.steps);
        } else {
            positive("--tokens", c.length.tokens);
        }
        if (c.dSae != null) {
            positive("--d-sae", c.dSae);
        }
        if (c.k != null) {
            positive("--k", c.k);
            if (c.dSae != null && c.k > c.dSae) {
                throw usage("--k " + c.k + " is larger than --d-sae " + c.dSae + " (k must be at most d_sae)");
            }
        }
        if (c.lr != null && !(Double.isFinite(c.lr) && c.lr > 0)) {
            throw usage("--lr must be a finite positive number, got " + c.lr);
        }
        if (c.kAux != null && c.kAux < 0) {
            throw usage("--k-aux must not be negative (0 turns AuxK off), got " + c.kAux);
        }
        if (c.auxCoeff != null && !(Double.isFinite(c.auxCoeff) && c.auxCoeff >= 0)) {
            throw usage("--aux-coeff must be a finite number >= 0, got " + c.auxCoeff);
        }
        if (c.deadAfterTokens != null) {
            positive("--dead-after-tokens", c.deadAfterTokens);
        }
        if (c.logEvery != null) {
            positive("--log-every", c.logEvery);
        }
        if (c.threads != null) {
            positive("--threads", c.threads);
        }
        if (c.l0Coeff != null && !(Double.isFinite(c.l0Coeff) && c.l0Coeff >= 0)) {
            throw usage("--l0-coeff must be a finite number >= 0, got " + c.l0Coeff);
        }
        if (c.l1Coeff != null && !(Double.isFinite(c.l1Coeff) && c.l1Coeff >= 0)) {
            throw usage("--l1-coeff must be a finite number >= 0, got " + c.l1Coeff);
        }
        List<SweepGrid.Variant> variants = Sweep.variants(c);
        boolean matryoshka = variants.stream().anyMatch(v -> v.architecture() == Architecture.MATRYOSHKA_BATCHTOPK);
        if (c.init == null) {
            if (variants.stream().anyMatch(v -> v.dSae() == null)) {
                throw usage("--d-sae is required (unless --init gives an SAE)");
            }
            List<Architecture> needingK = SweepGrid.needingK(variants);
            if (!needingK.isEmpty()) {
                throw usage("--k is required for --arch " + needingK.getFirst().cliName());
            }
            if (c.matryoshkaWidths == null && matryoshka) {
                throw usage("--matryoshka-widths is required for --arch " + Architecture.MATRYOSHKA_BATCHTOPK.cliName()
                        + " (cumulative prefix widths, e.g. 2304,4608,9216, the last equal to --d-sae)");
            }
        }
        if (c.matryoshkaWidths != null && (c.init == null || c.architecture != null) && !matryoshka) {
            throw usage("--matryoshka-widths applies to --arch " + Architecture.MATRYOSHKA_BATCHTOPK.cliName()
                    + " only, not " + architecture().cliName());
        }
    }

    /**
     * The group's synopsis as picocli writes it for a required group, (--data=FILE|DIR ... | --text=...): the
     * group is declared optional, for --resume, so its own synopsis is in brackets.
     */
    private String inputSynopsis() {
        String optional = c.spec.argGroups().stream()
                .filter(group ->
                        group.options().stream().anyMatch(o -> o.longestName().equals("--data")))
                .findFirst()
                .orElseThrow()
                .synopsis();
        return "(" + optional.substring(1, optional.length() - 1) + ")";
    }

    private void positive(String option, long value) {
        if (value <= 0) {
            throw usage(option + " must be positive, got " + value);
        }
    }

    private ParameterException usage(String message) {
        return c.usage(message);
    }

    private Architecture architecture() {
        return c.architecture();
    }

    private long steps() {
        return c.steps();
    }
}
