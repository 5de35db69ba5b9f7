package ai.batchtopk.data;

import ai.batchtopk.io.Tensor;

/**
 * An endless sequence of {@code batchSize x d} batches over some activations.
 *
 * <p>A returned tensor is valid until the next call to {@link #next()} (it may be a reused buffer), and
 * is in native memory, so the SAE reads it where it lies.
 */
public interface BatchSource {
    Tensor next();

    /** Where the next batch will start; saved in checkpoints so a resumed run sees the rows it would have. */
    DataPosition position();
}
