package ai.batchtopk.training;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The library's messages name what a Java caller set (the builder methods of {@code RunSpec} and
 * {@code SaeSpec}, {@code TrainingRun.resume}, ...); on the command line the same settings are options,
 * so the messages the CLI prints name the options instead.
 */
final class FlagNames {
    /** Library name to option, longest first where one name starts another. */
    private static final Map<String, String> OPTIONS = orderedMap(
            "SaeSpec.init(matryoshkaWidths)", "--matryoshka-widths",
            "SaeSpec.init(k)", "--k",
            "SaeSpec.init", "--init",
            "TrainingRun.resume", "--resume",
            "RunSpec.out", "--out",
            "RunSpec.batchSize", "--batch-size",
            "RunSpec.evalData", "--eval-data",
            "RunSpec.evalTokens", "--eval-tokens",
            "RunSpec.overwrite", "--overwrite",
            "SaeConfig.lr", "--lr",
            "LrSchedule.Decay", "--lr-decay",
            "allowChangedData", "--allow-changed-data",
            "the stack trace shows", "--debug shows");

    private FlagNames() {}

    /** {@code message} with each library name the CLI has an option for replaced by that option. */
    static String of(String message) {
        String named = message;
        for (Map.Entry<String, String> e : OPTIONS.entrySet()) {
            named = named.replace(e.getKey(), e.getValue());
        }
        return named;
    }

    private static Map<String, String> orderedMap(String... pairs) {
        Map<String, String> map = new LinkedHashMap<>();
        for (int i = 0; i < pairs.length; i += 2) {
            map.put(pairs[i], pairs[i + 1]);
        }
        return Collections.unmodifiableMap(map);
    }
}
