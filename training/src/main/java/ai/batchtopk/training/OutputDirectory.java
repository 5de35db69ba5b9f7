package ai.batchtopk.training;

import ai.batchtopk.Checkpoint;
import ai.batchtopk.Sae;
import ai.batchtopk.SaeLens;
import ai.batchtopk.io.IOConsumer;
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
            "sparsity.safetensors", MetricsLog.FILE, EvalLog.FILE, RunFile.FILE);

    /** Test hook: runs just before each checkpoint write, with the directory (to make it fail). */
    static volatile IOConsumer<Path> beforeSave = dir -> {};

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
        return prepare(dir, Set.of());
    }

    /**
     * As {@link #prepare(Path)}, also allowing the subdirectories {@code subdirs} (the SAEs of a
     * sweep) and their checkpoint swap siblings ({@code NAME.incoming}, {@code NAME.previous}).
     */
    static OutputDirectory prepare(Path dir, Set<String> subdirs) throws IOException {
        Path abs = dir.toAbsolutePath().normalize();
        if (Files.exists(abs) && !Files.isDirectory(abs)) {
            throw new CommandFailure("--out " + dir + " exists and is not a directory");
        }
        if (Files.isDirectory(abs)) {
            List<String> foreign;
            try (Stream<Path> entries = Files.list(abs)) {
                foreign = entries.map(p -> p.getFileName().toString()).filter(name -> !isOurs(name) && !subdirs.contains(name.replaceFirst("\\.(incoming|previous)$", ""))).sorted().toList();
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

    /**
     * As {@link #save(Sae, Map, Map)}, turning a failed write (a full disk, a read-only file system)
     * into one clear error: the checkpoint already in the directory is left as it was (a save writes
     * the new one beside it and swaps only when it is complete), and the half-written new one is removed.
     *
     * @param step the run's step, for the message
     * @throws CommandFailure naming the directory, the step and the cause
     */
    void save(Sae sae, Map<String, ?> metadata, Map<String, String> extra, long step) {
        try {
            beforeSave.accept(dir);
            save(sae, metadata, extra);
        } catch (IOException | java.io.UncheckedIOException e) {
            deleteQuietly(dir.resolveSibling(dir.getFileName() + ".incoming"));
            boolean previous = Files.exists(dir.resolve(Checkpoint.STATE_FILE));
            throw new CommandFailure("could not write the checkpoint of step " + step + " to " + dir + ": "
                    + ErrorMessages.describe(e instanceof java.io.UncheckedIOException u ? u.getCause() : e)
                    + (previous ? "; the previous checkpoint there is intact" : ""), e);
        }
    }

    private static void deleteQuietly(Path tree) {
        if (!Files.exists(tree)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(tree)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException | RuntimeException e) {
            // Best effort: the next save deletes it anyway.
        }
    }
}
