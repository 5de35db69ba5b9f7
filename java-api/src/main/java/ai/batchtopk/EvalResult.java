package ai.batchtopk;

import java.util.List;

/**
 * Quality of an SAE over a set of batches, in the original (un-normalised) space, with the inference
 * selection rule. Produced by {@link Evaluator}.
 *
 * @param tokens rows evaluated
 * @param nmse squared reconstruction error over the total variance of the data around its mean
 *     (fraction of variance unexplained)
 * @param explainedVariance {@code 1 - nmse}
 * @param l0 mean number of non-zero codes per token
 * @param deadFraction fraction of latents that never fired on these tokens
 * @param prefixNmse Matryoshka BatchTopK: the NMSE of each prefix's reconstruction (the latents below each
 *     matryoshka width, the same codes), the last equal to {@code nmse}; empty for other architectures
 */
public record EvalResult(
        long tokens, double nmse, double explainedVariance, double l0, double deadFraction, List<Double> prefixNmse) {
    public EvalResult {
        prefixNmse = List.copyOf(prefixNmse);
        if (tokens <= 0) {
            throw new IllegalArgumentException("an evaluation needs at least one token, got " + tokens);
        }
        if (deadFraction < 0 || deadFraction > 1) {
            throw new IllegalArgumentException("deadFraction must be in [0, 1], got " + deadFraction);
        }
    }
}
