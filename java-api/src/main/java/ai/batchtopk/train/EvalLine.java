package ai.batchtopk.train;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;
import java.util.List;

/**
 * One line of {@code eval.jsonl}, keys in snake_case in this order; a value that is not finite is null.
 *
 * @param tokens tokens trained on so far
 * @param prefixNmse Matryoshka BatchTopK: the NMSE of each prefix, widest last; null (left out) otherwise
 * @param evalTokens tokens of held-out data evaluated on
 */
@JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
public record EvalLine(
        Long step,
        Long tokens,
        Double nmse,
        @JsonInclude(JsonInclude.Include.NON_NULL) List<Double> prefixNmse,
        Double explainedVariance,
        Double l0,
        Double deadFraction,
        Long evalTokens) {}
