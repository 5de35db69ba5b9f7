package ai.batchtopk.training;

import ai.batchtopk.Checkpoint;
import ai.batchtopk.Sae;
import ai.batchtopk.SaeLens;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The {@code --out} directory of a training run: an SAELens directory that is also a training
 * checkpoint ({@link Checkpoint#save} writes both), plus {@value MetricsLog#FILE}.
 *
 * <p>{@link Checkpoint#save} replaces the whole directory atomically (keeping other plain files, such as
 * the metrics log); a directory holding files a run does not write is refused up front all the same, so
 * that a mistyped {@code --out} never mixes a run into unrelated files.
 */
final class OutputDirectory {
    /** What a run writes; a directory holding only these is a previous run's and may be replaced. */
    static final Set<String> OURS = Set.of(SaeLens.CONFIG_FILE, SaeLens.WEIGHTS_FILE, Checkpoint.STATE_FILE,
            "sparsity.safetensors", MetricsLog.FILE);

    private final Path dir;

    private OutputDirectory(Path dir) {
        this.dir = dir;
    }

    /**
     * Checks the directory may be written to and creates it.
     *
     * @throws CommandFailure if it is a file, or holds files a run does not write
     */
    static OutputDirectory prepare(Path dir) throws IOException {
        Path abs = dir.toAbsolutePath().normalize();
        if (Files.exists(abs) && !Files.isDirectory(abs)) {
            throw new CommandFailure("--out " + dir + " exists and is not a directory");
        }
        if (Files.isDirectory(abs)) {
            List<String> foreign;
            try (Stream<Path> entries = Files.list(abs)) {
                foreign = entries.map(p -> p.getFileName().toString()).filter(name -> !isOurs(name)).sorted().toList();
            }
            if (!foreign.isEmpty()) {
                throw new CommandFailure("--out " + dir + " holds files a training run does not write ("
                        + String.join(", ", foreign.subList(0, Math.min(5, foreign.size())))
                        + (foreign.size() > 5 ? ", ..." : "")
                        + ") and saving replaces the whole directory; use a new or empty directory");
            }
        }
        Files.createDirectories(abs);
        return new OutputDirectory(abs);
    }

    /** Our files, and the temporary files of an atomic write that a crash left behind. */
    private static boolean isOurs(String name) {
        return OURS.contains(name) || (name.startsWith(".") && name.contains(".tmp-"));
    }

    Path path() {
        return dir;
    }

    Path metricsFile() {
        return dir.resolve(MetricsLog.FILE);
    }

    /** Whether the directory is also where a run resumes from (then its metrics log is continued). */
    boolean isSameAs(Path other) throws IOException {
        return Files.exists(other) && Files.isSameFile(dir, other);
    }

    /** Saves the SAE as an SAELens directory and training checkpoint, atomically; the metrics log stays. */
    void save(Sae sae, Map<String, ?> metadata, Map<String, String> extra) throws IOException {
        Checkpoint.save(sae, dir, metadata, extra);
    }
}
