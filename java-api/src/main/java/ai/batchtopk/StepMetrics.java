package ai.batchtopk;

import ai.batchtopk.bindings.btk_metrics;
import java.lang.foreign.MemorySegment;

/**
 * What one training step (or one loss evaluation) reports; the Java twin of {@code btk_metrics}.
 *
 * @param step optimizer steps taken so far, this one included
 * @param loss mse + auxLoss + sparsityLoss
 * @param mse mean over B*d of (x_hat - x)^2, in the (normalised) training space
 * @param auxLoss AuxK loss, already weighted by aux_coeff
 * @param sparsityLoss L1 (ReLU) or L0 (JumpReLU) penalty, weighted
 * @param nmse sum (x_hat - x)^2 / sum (x - mean_b x)^2 over this batch
 * @param l0 mean number of non-zero codes per token
 * @param dead latents counted as dead after this step
 * @param theta BatchTopK inference threshold after this step
 * @param gradNorm global gradient norm before clipping
 */
public record StepMetrics(
        long step,
        double loss,
        double mse,
        double auxLoss,
        double sparsityLoss,
        double nmse,
        double l0,
        long dead,
        double theta,
        double gradNorm) {

    /** Reads a native {@code btk_metrics}. */
    public static StepMetrics fromNative(MemorySegment m) {
        return new StepMetrics(
                btk_metrics.step(m),
                btk_metrics.loss(m),
                btk_metrics.mse(m),
                btk_metrics.aux_loss(m),
                btk_metrics.sparsity_loss(m),
                btk_metrics.nmse(m),
                btk_metrics.l0(m),
                btk_metrics.dead(m),
                btk_metrics.theta(m),
                btk_metrics.grad_norm(m));
    }
}
