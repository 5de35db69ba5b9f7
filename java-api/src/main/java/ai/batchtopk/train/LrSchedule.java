package ai.batchtopk.train;

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
public record LrSchedule(double lr, long steps, long warmupSteps, Decay decay, double endFraction) {
    public enum Decay {
        NONE,
        LINEAR,
        COSINE;

        public static Decay parse(String text) {
            return switch (text.toLowerCase(java.util.Locale.ROOT)) {
                case "none" -> NONE;
                case "linear" -> LINEAR;
                case "cosine" -> COSINE;
                default ->
                    throw new IllegalArgumentException("LrSchedule.Decay must be none, linear or cosine, got " + text);
            };
        }
    }

    /**
     * The shape of a schedule, whatever the rate and the length of the run: {@code warmupSteps} of linear
     * warm-up, then {@code decay} towards {@code endFraction} of the rate.
     */
    public record Shape(long warmupSteps, Decay decay, double endFraction) {
        public static final Shape CONSTANT = new Shape(0, Decay.NONE, 0);

        public Shape {
            java.util.Objects.requireNonNull(decay, "decay");
            if (warmupSteps < 0 || !(endFraction >= 0 && endFraction <= 1)) {
                throw new IllegalArgumentException(
                        "a schedule needs warm-up steps >= 0 and an end fraction in [0, 1], got " + warmupSteps + ", "
                                + endFraction);
            }
        }

        /** Warm-up over {@code warmupSteps}, then cosine decay to {@code endFraction * lr} at the end of the run. */
        public static Shape cosine(long warmupSteps, double endFraction) {
            return new Shape(warmupSteps, Decay.COSINE, endFraction);
        }

        /** Warm-up over {@code warmupSteps}, then linear decay to {@code endFraction * lr} at the end of the run. */
        public static Shape linear(long warmupSteps, double endFraction) {
            return new Shape(warmupSteps, Decay.LINEAR, endFraction);
        }

        /** The schedule of a run of {@code steps} steps at rate {@code lr}. */
        public LrSchedule of(double lr, long steps) {
            return new LrSchedule(lr, steps, warmupSteps, decay, endFraction);
        }
    }

    public LrSchedule {
        if (!(lr > 0) || steps <= 0 || warmupSteps < 0 || !(endFraction >= 0 && endFraction <= 1)) {
            throw new IllegalArgumentException("bad schedule: lr " + lr + ", steps " + steps + ", warm-up "
                    + warmupSteps + ", end fraction " + endFraction);
        }
    }

    /** Whether the rate ever differs from {@code lr} (else it need not be set each step). */
    public boolean varies() {
        return warmupSteps > 0 || decay != Decay.NONE;
    }

    /** The rate of step {@code s} (1-based, over the whole run). */
    public double at(long s) {
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
