package ai.batchtopk.extract;

import ai.batchtopk.io.Tensor;
import java.util.List;

/**
 * The activations captured in one ONNX run, one row per kept token, in document order.
 *
 * <p>{@code activations} is an off-heap f32 tensor {@code [rows, d]} owned by the {@link Extractor}: it
 * is valid only until the extractor's next block is produced (or the extractor is closed); copy it
 * (off-heap, {@code MemorySegment.copy}) to keep it longer.
 *
 * @param activations f32 {@code [rows, d]}
 * @param tokens the wordpiece of each row ("##" continuation marks kept)
 * @param documents each row's document: the index of its {@link TextChunk#document()} (for a list of
 *     strings given to the extractor, the index into the list)
 * @param positions each row's token position within its document (0-based, counting wordpieces over
 *     all windows, [CLS]/[SEP] not counted); -1 for a kept [CLS] or [SEP]
 */
public record ActivationBlock(Tensor activations, List<String> tokens, int[] documents, int[] positions) {
    public long rows() {
        return activations.rows();
    }

    public long width() {
        return activations.cols();
    }
}
