package ai.batchtopk.train;

import ai.batchtopk.Architecture;
import ai.batchtopk.SaeConfig;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * One SAE of a run: a new one of {@code config}, or one started from the SAELens directory {@code init}
 * (resumed when it is a checkpoint of ours of the same architecture; with another {@code architecture},
 * a new run of that architecture from its parameters, with {@code k} if given).
 *
 * @param name its subdirectory in a sweep, and its name in messages
 * @param config the config of a new SAE; null with {@code init}
 * @param init the directory to start from; null for a new SAE
 * @param architecture with {@code init}: the architecture to train (null: the saved one)
 * @param k with {@code init}: k for an architecture that has one (null: the saved one)
 * @param matryoshkaWidths with {@code init}: the widths of a Matryoshka BatchTopK run (null: the saved ones)
 */
public record SaeSpec(
        String name, SaeConfig config, Path init, Architecture architecture, Integer k, List<Long> matryoshkaWidths) {
    public SaeSpec {
        Objects.requireNonNull(name, "name");
        if ((config == null) == (init == null)) {
            throw new IllegalArgumentException(
                    "an SAE of a run is either new (a config) or started from a directory (init)");
        }
        if (config != null && (architecture != null || k != null || matryoshkaWidths != null)) {
            throw new IllegalArgumentException("architecture, k and matryoshka widths of a new SAE are in its config");
        }
        matryoshkaWidths = matryoshkaWidths == null ? null : List.copyOf(matryoshkaWidths);
    }

    public static SaeSpec of(String name, SaeConfig config) {
        return new SaeSpec(name, config, null, null, null, null);
    }

    public static SaeSpec init(String name, Path dir, Architecture architecture, Integer k) {
        return init(name, dir, architecture, k, null);
    }

    public static SaeSpec init(
            String name, Path dir, Architecture architecture, Integer k, List<Long> matryoshkaWidths) {
        return new SaeSpec(name, null, dir, architecture, k, matryoshkaWidths);
    }
}
