package ai.batchtopk.train;

import ai.batchtopk.data.DataFingerprint;
import ai.batchtopk.data.DataPosition;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What a checkpoint must remember besides the SAE's tensors for a resumed run to continue the same
 * run: tokens trained on so far, steps of this run, its base learning rate, and where the data stood.
 * Saved as strings in the checkpoint's metadata ({@link ai.batchtopk.Checkpoint}'s "extra").
 *
 * @param tokens tokens trained on since the SAE was created
 * @param dataRows rows in the data the position refers to (a different data set starts afresh)
 * @param order how the rows are visited: "sequential", "shuffled" (full permutation) or
 *     "shuffled-window-N"; a position only means something in the same order
 * @param position where the next batch starts
 * @param runSteps steps taken by this run (over its resumed parts), 0 when unknown
 * @param baseLr the run's --lr before any schedule (NaN when unknown)
 * @param data the files the run read, to tell on resuming whether they changed (null when unknown: a
 *     checkpoint saved before fingerprints were kept, or by something else)
 */
record ResumeState(
        long tokens,
        long dataRows,
        String order,
        DataPosition position,
        long runSteps,
        double baseLr,
        DataFingerprint data) {
    private static final String TOKENS = "batchtopk.tokens";
    private static final String ROWS = "batchtopk.data.rows";
    private static final String SHUFFLED = "batchtopk.data.shuffled";
    private static final String ORDER = "batchtopk.data.order";
    private static final String EPOCH = "batchtopk.data.epoch";
    private static final String ROW = "batchtopk.data.row";
    private static final String RUN_STEPS = "batchtopk.run.steps";
    private static final String BASE_LR = "batchtopk.run.lr";

    Map<String, String> toExtra() {
        Map<String, String> extra = new LinkedHashMap<>();
        extra.put(TOKENS, Long.toString(tokens));
        extra.put(ROWS, Long.toString(dataRows));
        extra.put(SHUFFLED, Boolean.toString(!order.equals("sequential")));
        extra.put(ORDER, order);
        extra.put(EPOCH, Long.toString(position.epoch()));
        extra.put(ROW, Long.toString(position.row()));
        extra.put(RUN_STEPS, Long.toString(runSteps));
        extra.put(BASE_LR, Double.toString(baseLr));
        if (data != null) {
            extra.put(DataFingerprint.KEY, data.toJson());
        }
        return extra;
    }

    /**
     * The state saved in a checkpoint; an SAE saved by something else (no such keys, or unreadable
     * ones) counts as new: no tokens, data from the start.
     */
    static ResumeState fromExtra(Map<String, String> extra) {
        try {
            String order = extra.get(ORDER);
            if (order == null) { // saved before orders had names
                order = Boolean.parseBoolean(extra.get(SHUFFLED)) ? "shuffled" : "sequential";
            }
            return new ResumeState(
                    Long.parseLong(extra.getOrDefault(TOKENS, "0")),
                    Long.parseLong(extra.getOrDefault(ROWS, "-1")),
                    order,
                    new DataPosition(
                            Long.parseLong(extra.getOrDefault(EPOCH, "0")),
                            Long.parseLong(extra.getOrDefault(ROW, "0"))),
                    Long.parseLong(extra.getOrDefault(RUN_STEPS, "0")),
                    Double.parseDouble(extra.getOrDefault(BASE_LR, "NaN")),
                    fingerprint(extra.get(DataFingerprint.KEY)));
        } catch (IllegalArgumentException e) {
            return fresh();
        }
    }

    /** The saved fingerprint; null when there is none or it cannot be read (then the data cannot be verified). */
    private static DataFingerprint fingerprint(String json) {
        if (json == null) {
            return null;
        }
        try {
            return DataFingerprint.fromJson(json);
        } catch (IllegalArgumentException | ClassCastException e) {
            return null;
        }
    }

    static ResumeState fresh() {
        return new ResumeState(0, -1, "sequential", DataPosition.START, 0, Double.NaN, null);
    }

    /** Where to start in data of {@code rows} rows read in {@code order}. */
    DataPosition positionIn(long rows, String order) {
        return rows == dataRows && order.equals(this.order) ? position : DataPosition.START;
    }
}
