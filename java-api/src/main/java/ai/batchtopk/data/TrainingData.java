package ai.batchtopk.data;

import java.io.IOException;

/**
 * The rows a training run reads, opened: activation files ({@link ActivationFiles}) or anything else
 * that can deliver batches from a saved position (the command line's text run through a model).
 * Everything about the rows follows from the position and the seed, so a resumed run sees the rows an
 * uninterrupted one would have.
 */
public interface TrainingData extends AutoCloseable {
    /** The width d of a row. */
    long width();

    /**
     * What a checkpoint's position refers to: the number of rows, or for data whose length is only known
     * after a whole pass, a fingerprint of it (a resume over other data then starts afresh or is refused).
     */
    long rows();

    /** What the data is, for messages: "3 files: 12000 rows of d = 64 F32". */
    String describe();

    /** The row order's name, kept in checkpoints ({@link RowOrder#label()}). */
    String order();

    /** Batches of the size the data was opened with, starting at {@code start}, in the order of {@code seed}. */
    RowStream stream(DataPosition start, long seed);

    /** Where the rows of a stream with {@code seed} come from, for messages. */
    RowOrigin origin(long seed);

    /** The files read, to tell on resuming whether they changed. */
    DataFingerprint fingerprint();

    @Override
    void close() throws IOException;
}
