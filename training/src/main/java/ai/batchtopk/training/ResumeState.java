package ai.batchtopk.training;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What a checkpoint must remember besides the SAE's tensors for a resumed run to continue the same
 * run: tokens trained on so far, and where the data stood. Saved as strings in the checkpoint's
 * metadata ({@link ai.batchtopk.Checkpoint}'s "extra").
 *
 * @param tokens tokens trained on since the SAE was created
 * @param dataRows rows in the data the position refers to (a different data set starts afresh)
 * @param shuffled whether the position is into shuffled epochs
 * @param position where the next batch starts
 */
record ResumeState(long tokens, long dataRows, boolean shuffled, DataPosition position) {
    private static final String TOKENS = "batchtopk.tokens";
    private static final String ROWS = "batchtopk.data.rows";
    private static final String SHUFFLED = "batchtopk.data.shuffled";
    private static final String EPOCH = "batchtopk.data.epoch";
    private static final String ROW = "batchtopk.data.row";

    Map<String, String> toExtra() {
        Map<String, String> extra = new LinkedHashMap<>();
        extra.put(TOKENS, Long.toString(tokens));
        extra.put(ROWS, Long.toString(dataRows));
        extra.put(SHUFFLED, Boolean.toString(shuffled));
        extra.put(EPOCH, Long.toString(position.epoch()));
        extra.put(ROW, Long.toString(position.row()));
        return extra;
    }

    /**
     * The state saved in a checkpoint; an SAE saved by something else (no such keys, or unreadable
     * ones) counts as new: no tokens, data from the start.
     */
    static ResumeState fromExtra(Map<String, String> extra) {
        try {
            return new ResumeState(
                    Long.parseLong(extra.getOrDefault(TOKENS, "0")),
                    Long.parseLong(extra.getOrDefault(ROWS, "-1")),
                    Boolean.parseBoolean(extra.get(SHUFFLED)),
                    new DataPosition(Long.parseLong(extra.getOrDefault(EPOCH, "0")),
                            Long.parseLong(extra.getOrDefault(ROW, "0"))));
        } catch (IllegalArgumentException e) {
            return fresh();
        }
    }

    static ResumeState fresh() {
        return new ResumeState(0, -1, false, DataPosition.START);
    }

    /** Where to start in data of {@code rows} rows read with or without shuffling. */
    DataPosition positionIn(long rows, boolean shuffle) {
        return rows == dataRows && shuffle == shuffled ? position : DataPosition.START;
    }
}
