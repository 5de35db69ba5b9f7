package ai.batchtopk.io;

import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * An opened safetensors file: its tensors in header order (views into the memory mapping, valid while
 * the arena passed to {@link Safetensors#open} is alive, read-only) and its {@code __metadata__}
 * (empty if absent). Both maps are unmodifiable and keep insertion order.
 *
 * @param path the file that was opened
 * @param tensors tensors by name, in header order
 * @param metadata the {@code __metadata__} map, empty if the file has none
 */
public record SafetensorsFile(Path path, Map<String, Tensor> tensors, Map<String, String> metadata) {

    public SafetensorsFile {
        Objects.requireNonNull(path, "path");
        tensors = Collections.unmodifiableMap(new LinkedHashMap<>(tensors));
        metadata = Collections.unmodifiableMap(new LinkedHashMap<>(metadata));
    }

    /**
     * The tensor called {@code name}.
     *
     * @throws MalformedFileException naming the missing tensor and the file (and listing what is there)
     */
    public Tensor get(String name) throws MalformedFileException {
        Tensor t = tensors.get(name);
        if (t == null) {
            throw new MalformedFileException(
                    path,
                    "no tensor named " + JsonCodec.quote(String.valueOf(name)) + " (the file has " + describeNames()
                            + ")");
        }
        return t;
    }

    /** Whether a tensor called {@code name} exists. */
    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    private String describeNames() {
        if (tensors.isEmpty()) {
            return "no tensors";
        }
        StringBuilder sb = new StringBuilder();
        int shown = 0;
        for (String n : tensors.keySet()) {
            if (shown == 20) {
                sb.append(", ... ").append(tensors.size() - shown).append(" more");
                break;
            }
            if (shown > 0) {
                sb.append(", ");
            }
            sb.append(n);
            shown++;
        }
        return tensors.size() + " tensor" + (tensors.size() == 1 ? "" : "s") + ": " + sb;
    }
}
