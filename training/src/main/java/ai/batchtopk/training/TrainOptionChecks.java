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
            if (c.extraction.layer == null) {
                throw usage("--text needs --layer L (the model layer whose activations to train on, 0-based)");
            }
            if (c.loading.shuffle && given != null && given.hasMatchedOption("--shuffle")) {
                throw usage("--shuffle cannot be used with --text: rows extracted from text come in document order"
                        + " (to shuffle, write them with 'extract' and train with --data)");
            }
            if (given != null && given.hasMatchedOption("--shuffle-buffer")) {
                throw usage(
                        "--shuffle-buffer cannot be used with --text: rows extracted from text come in document order");
            }
            c.loading.shuffle = false;
            if (c.extraction.extractBatchSize != null) {
                positive("--extract-batch-size", c.extraction.extractBatchSize);
            }
            TrainSpecs.extractorConfig(c);
        } else {
            for (String option : List.of("--model", "--layer", "--site", "--max-length", "--extract-batch-size")) {
                if (given != null && given.hasMatchedOption(option)) {
                    throw usage(option + " only applies with --text");
                }
            }
        }
        if (c.schedule.batchSize == null) {
            throw usage("Missing required option: '--batch-size=B'");
        }
        if (c.output.out == null) {
            throw usage("Missing required option: '--out=DIR'");
        }
        if (c.length == null) {
            throw usage("Missing required argument (specify one of these): (--steps=N | --tokens=N)");
        }
        positive("--batch-size", c.schedule.batchSize);
        if (c.loading.shuffleBuffer < 0) {
            throw usage(
                    "--shuffle-buffer must not be negative (0: shuffle over all rows), got " + c.loading.shuffleBuffer);
        }
        if (c.loading.prefetch < 0) {
            throw usage("--prefetch must not be negative (0: no prefetch thread), got " + c.loading.prefetch);
        }
        if (c.schedule.lrWarmupSteps < 0) {
            throw usage("--lr-warmup-steps must not be negative, got " + c.schedule.lrWarmupSteps);
        }
        try {
            LrSchedule.Decay.parse(c.schedule.lrDecay);
        } catch (IllegalArgumentException e) {
            throw usage(e.getMessage());
        }
        if (!(c.schedule.lrEndFraction >= 0 && c.schedule.lrEndFraction <= 1)) {
            throw usage("--lr-end-fraction must be in [0, 1], got " + c.schedule.lrEndFraction);
        }
        if (c.schedule.lrWarmupSteps >= steps() && !c.schedule.lrDecay.equalsIgnoreCase("none")) {
            throw usage("--lr-warmup-steps " + c.schedule.lrWarmupSteps
                    + " leaves no steps to --lr-decay over (the run has " + steps() + ")");
        }
        if (c.output.checkpointEvery < 0) {
            throw usage(
                    "--checkpoint-every must not be negative (0: only at the end), got " + c.output.checkpointEvery);
        }
        if (c.eval.evalEvery != null) {
            positive("--eval-every", c.eval.evalEvery);
        }
        positive("--eval-tokens", c.eval.evalTokens);
        if ((c.eval.evalEvery != null) && c.eval.evalData == null) {
            throw usage("--eval-every needs --eval-data");
        }
        if (c.sae.sweep != null && !c.sae.sweep.isEmpty() && c.sae.init != null) {
            throw usage("--sweep trains new SAEs; it cannot be combined with --init");
        }
        if (c.output.overwrite
                && c.sae.init != null
                && c.sae.init
                        .toAbsolutePath()
                        .normalize()
                        .startsWith(c.output.out.toAbsolutePath().normalize())) {
            throw usage("--overwrite would delete the --init SAE " + c.sae.init + ", which is in --out " + c.output.out
                    + " (to go on in place, leave --overwrite out)");
        }
        if (c.length.steps != null) {
            positive("--steps", c.length.steps);
        } else {
            positive("--tokens", c.length.tokens);
        }
        if (c.sae.dSae != null) {
            positive("--d-sae", c.sae.dSae);
        }
        if (c.sae.k != null) {
            positive("--k", c.sae.k);
            if (c.sae.dSae != null && c.sae.k > c.sae.dSae) {
                throw usage("--k " + c.sae.k + " is larger than --d-sae " + c.sae.dSae + " (k must be at most d_sae)");
            }
        }
        if (c.schedule.lr != null && !(Double.isFinite(c.schedule.lr) && c.schedule.lr > 0)) {
            throw usage("--lr must be a finite positive number, got " + c.schedule.lr);
        }
        if (c.sae.kAux != null && c.sae.kAux < 0) {
            throw usage("--k-aux must not be negative (0 turns AuxK off), got " + c.sae.kAux);
        }
        if (c.sae.auxCoeff != null && !(Double.isFinite(c.sae.auxCoeff) && c.sae.auxCoeff >= 0)) {
            throw usage("--aux-coeff must be a finite number >= 0, got " + c.sae.auxCoeff);
        }
        if (c.sae.deadAfterTokens != null) {
            positive("--dead-after-tokens", c.sae.deadAfterTokens);
        }
        if (c.output.logEvery != null) {
            positive("--log-every", c.output.logEvery);
        }
        if (c.threads != null) {
            positive("--threads", c.threads);
        }
        if (c.sae.l0Coeff != null && !(Double.isFinite(c.sae.l0Coeff) && c.sae.l0Coeff >= 0)) {
            throw usage("--l0-coeff must be a finite number >= 0, got " + c.sae.l0Coeff);
        }
        if (c.sae.l1Coeff != null && !(Double.isFinite(c.sae.l1Coeff) && c.sae.l1Coeff >= 0)) {
            throw usage("--l1-coeff must be a finite number >= 0, got " + c.sae.l1Coeff);
        }
        List<SweepGrid.Variant> variants = Sweep.variants(c);
        boolean matryoshka = variants.stream().anyMatch(v -> v.architecture() == Architecture.MATRYOSHKA_BATCHTOPK);
        if (c.sae.init == null) {
            if (variants.stream().anyMatch(v -> v.dSae() == null)) {
                throw usage("--d-sae is required (unless --init gives an SAE)");
            }
            List<Architecture> needingK = SweepGrid.needingK(variants);
            if (!needingK.isEmpty()) {
                throw usage("--k is required for --arch " + needingK.getFirst().cliName());
            }
            if (c.sae.matryoshkaWidths == null && matryoshka) {
                throw usage("--matryoshka-widths is required for --arch " + Architecture.MATRYOSHKA_BATCHTOPK.cliName()
                        + " (cumulative prefix widths, e.g. 2304,4608,9216, the last equal to --d-sae)");
            }
        }
        if (c.sae.matryoshkaWidths != null && (c.sae.init == null || c.sae.architecture != null) && !matryoshka) {
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
        return c.sae.architecture();
    }

    private long steps() {
        return c.steps();
    }
}
