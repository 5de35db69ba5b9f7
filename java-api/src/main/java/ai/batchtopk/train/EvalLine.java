package ai.batchtopk.train;

import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;

/**
 * One line of {@code eval.jsonl}, keys in snake_case in this order; a value that is not finite is null.
 *
 * @param tokens tokens trained on so far
 * @param evalTokens tokens of held-out data evaluated on
 */
@JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
public record EvalLine(Long step, Long tokens, Double nmse, Double explainedVariance, Double l0, Double deadFraction,
        Long evalTokens) {}
