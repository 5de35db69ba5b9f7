package ai.batchtopk.train;

import ai.batchtopk.StepMetrics;
import ai.batchtopk.data.DataPosition;
import java.nio.file.Path;
import java.util.List;

/**
 * What a run ends with.
 *
 * @param last the metrics of the last step (of the first SAE)
 * @param tokens tokens trained on since the (first) SAE was created
 * @param tokensThisRun tokens trained on by this process (per SAE)
 * @param seconds how long this process trained
 * @param position where the next batch would have started
 * @param saes each SAE of the run: its name, last metrics and directory
 */
public record RunResult(
        StepMetrics last, long tokens, long tokensThisRun, double seconds, DataPosition position, List<Sae> saes) {
    /** One SAE of the run as it ended. */
    public record Sae(String name, StepMetrics last, Path dir) {}

    public RunResult {
        saes = List.copyOf(saes);
    }

    public double tokensPerSecond() {
        return seconds > 0 ? tokensThisRun / seconds : 0;
    }
}
