package ai.batchtopk.training;

/**
 * The learning rate of each step of a run: a linear warm-up from 0 over {@code warmupSteps}, then a
 * decay (none, linear or cosine) from {@code lr} towards {@code endFraction * lr} at the end of the run.
 *
 * <p>Step {@code s} (1-based, counted over the whole run, resumed parts included) trains with
 * {@code lr * s / warmupSteps} while {@code s <= warmupSteps}; after that with progress
 * {@code p = (s - 1 - warmupSteps) / (steps - warmupSteps)} in [0, 1): linear
 * {@code lr * (1 - (1 - f) p)}, cosine {@code lr * (f + (1 - f)(1 + cos(pi p)) / 2)}. The rate depends
 * on the step alone, so a resumed run follows the same curve, and it is never 0.
 */
record LrSchedule(double lr, long steps, long warmupSteps, Decay decay, double endFraction) {
    enum Decay {
        NONE, LINEAR, COSINE;

        static Decay parse(String text) {
            return switch (text.toLowerCase(java.util.Locale.ROOT)) {
                case "none" -> NONE;
                case "linear" -> LINEAR;
                case "cosine" -> COSINE;
                default -> throw new IllegalArgumentException("--lr-decay must be none, linear or cosine, got " + text);
            };
        }
    }

    LrSchedule {
        if (!(lr > 0) || steps <= 0 || warmupSteps < 0 || !(endFraction >= 0 && endFraction <= 1)) {
            throw new IllegalArgumentException("bad schedule: lr " + lr + ", steps " + steps + ", warm-up "
                    + warmupSteps + ", end fraction " + endFraction);
        }
    }

    /** Whether the rate ever differs from {@code lr} (else it need not be set each step). */
    boolean varies() {
        return warmupSteps > 0 || decay != Decay.NONE;
    }

    /** The rate of step {@code s} (1-based, over the whole run). */
    double at(long s) {
        if (s <= warmupSteps) {
            return lr * s / warmupSteps;
        }
        if (decay == Decay.NONE || s > steps) {
            return decay == Decay.NONE ? lr : lr * endFraction;
        }
        double p = (double) (s - 1 - warmupSteps) / (steps - warmupSteps);
        return switch (decay) {
            case LINEAR -> lr * (1 - (1 - endFraction) * p);
            case COSINE -> lr * (endFraction + (1 - endFraction) * 0.5 * (1 + Math.cos(Math.PI * p)));
            case NONE -> lr;
        };
    }
}
