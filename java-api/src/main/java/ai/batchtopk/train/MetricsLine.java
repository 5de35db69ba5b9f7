package ai.batchtopk.train;

import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;

/**
 * One line of {@code metrics.jsonl}, keys in snake_case in this order. A value that is not finite (a
 * diverged loss) is null, since JSON has no NaN; so is a key a log written by an older version lacks.
 *
 * @param tokens tokens trained on since the SAE was created (earlier runs included)
 * @param tokensPerS throughput since the previous line
 * @param lr the learning rate of the step
 */
@JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
public record MetricsLine(
        Long step,
        Long tokens,
        Double loss,
        Double mse,
        Double auxLoss,
        Double l0,
        Long dead,
        Double theta,
        Double tokensPerS,
        Double nmse,
        Double sparsityLoss,
        Double gradNorm,
        Double lr) {}
