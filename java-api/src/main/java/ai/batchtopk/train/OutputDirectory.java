package ai.batchtopk.train;

import ai.batchtopk.Checkpoint;
import ai.batchtopk.ErrorMessages;
import ai.batchtopk.Sae;
import ai.batchtopk.SaeLens;
import ai.batchtopk.ShardedCheckpoint;
import ai.batchtopk.ShardedSae;
import ai.batchtopk.io.IOConsumer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The {@code --out} directory of a training run: an SAELens directory that is also a training
 * checkpoint ({@link Checkpoint#save} writes both), plus {@value MetricsLog#FILE}.
 *
 * <p>{@link Checkpoint#save} replaces the whole directory atomically (keeping other plain files, such as
 * the metrics log); a directory holding files a run does not write is refused up front all the same, so
 * that a mistyped {@code --out} never mixes a run into unrelated files.
 *
 * <p>A new run starts in a new or empty directory only ({@link #clearForNewRun}): a finished run there is
 * continued with {@code --resume}, or replaced as a whole with {@code --overwrite}, never mixed with.
 */
public final class OutputDirectory {
    /** The command line's report of a run, which it writes into the run's directory. */
    private static final String REPORT_FILE = "report.html";

    /** What a run writes; a directory holding only these is a previous run's and may be replaced. */
    public static final Set<String> OURS = Set.of(
            SaeLens.CONFIG_FILE,
            SaeLens.WEIGHTS_FILE,
            Checkpoint.STATE_FILE,
            "sparsity.safetensors",
            MetricsLog.FILE,
            EvalLog.FILE,
            RunFile.FILE,
            REPORT_FILE);

    /**
     * A latent-sharded checkpoint's generation directories and the shard files in them
     * ({@link ShardedCheckpoint}).
     */
    private static final java.util.regex.Pattern SHARDS =
            java.util.regex.Pattern.compile("shards-\\d+|shard-\\d+-of-\\d+\\.safetensors");

    /** Where {@code --overwrite} moves the run it replaces before deleting it (a sibling of the directory). */
    public static final String REPLACED = ".replaced";

    /** The siblings of a checkpoint directory during an atomic save ({@link Checkpoint#save}). */
    private static final List<String> SWAP_SUFFIXES = List.of(".incoming", ".previous");

    /** Test hook: runs just before each checkpoint write, with the directory (to make it fail). */
    public static volatile IOConsumer<Path> beforeSave = dir -> {};

    private final Path dir;

    private OutputDirectory(Path dir) {
        this.dir = dir;
    }

    /**
     * A run's directory that this process names but never writes or checks: a rank other than 0 of a
     * data-parallel run (rank 0 writes it).
     */
    static OutputDirectory notWrittenHere(Path dir) {
        return new OutputDirectory(dir.toAbsolutePath().normalize());
    }

    /**
     * Checks the directory may be written to and creates it.
     *
     * @throws TrainingException if it is a file, or holds files a run does not write
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
            throw new TrainingException("RunSpec.out " + dir + " exists and is not a directory");
        }
        if (Files.isDirectory(abs)) {
            List<String> foreign;
            try (Stream<Path> entries = Files.list(abs)) {
                foreign = entries.map(p -> p.getFileName().toString())
                        .filter(name ->
                                !isOurs(name) && !subdirs.contains(name.replaceFirst("\\.(incoming|previous)$", "")))
                        .sorted()
                        .toList();
            }
            if (!foreign.isEmpty()) {
                throw new TrainingException("RunSpec.out " + dir + " holds files a training run does not write ("
                        + String.join(", ", foreign.subList(0, Math.min(5, foreign.size())))
                        + (foreign.size() > 5 ? ", ..." : "")
                        + ") and saving replaces the whole directory; use a new or empty directory");
            }
        }
        Files.createDirectories(abs);
        return new OutputDirectory(abs);
    }

    /**
     * Makes sure a new run may write into {@code dir}: it must not exist or be empty. A directory holding
     * a previous run (its files and nothing else, sweep subdirectories included) is replaced only when
     * {@code overwrite} says so: it is first renamed aside in one atomic step, so that no mixture of the
     * old and the new run can ever be left in {@code dir}, then deleted. A directory holding anything a
     * run does not write is never deleted.
     *
     * @throws TrainingException if the directory is not empty and may not (or cannot) be replaced
     */
    static void clearForNewRun(Path dir, boolean overwrite) throws IOException {
        Path abs = dir.toAbsolutePath().normalize();
        if (Files.exists(abs) && !Files.isDirectory(abs)) {
            throw new TrainingException("RunSpec.out " + dir + " exists and is not a directory");
        }
        Path replaced = sibling(abs, REPLACED);
        if (Files.isDirectory(replaced) && foreignIn(replaced, true).isEmpty()) {
            deleteTree(replaced); // an earlier --overwrite stopped before its delete finished
        }
        List<Path> swap = SWAP_SUFFIXES.stream()
                .map(suffix -> sibling(abs, suffix))
                .filter(Files::exists)
                .toList();
        List<String> entries = Files.isDirectory(abs) ? names(abs) : List.of();
        if (entries.isEmpty() && swap.isEmpty()) {
            return;
        }
        List<String> foreign = new java.util.ArrayList<>(Files.isDirectory(abs) ? foreignIn(abs, true) : List.of());
        for (Path p : swap) {
            foreignIn(p, true).forEach(name -> foreign.add(p.getFileName() + "/" + name));
        }
        List<String> present = entries.isEmpty()
                ? swap.stream().map(p -> p.getFileName().toString()).toList()
                : entries;
        String shown = String.join(", ", present.subList(0, Math.min(5, present.size())))
                + (present.size() > 5 ? ", ..." : "");
        if (!foreign.isEmpty()) {
            throw new TrainingException("RunSpec.out " + dir
                    + " is not empty and holds files a training run does not write ("
                    + String.join(", ", foreign.subList(0, Math.min(5, foreign.size())))
                    + (foreign.size() > 5 ? ", ..." : "")
                    + "); use a new or empty directory"
                    + (overwrite ? " (RunSpec.overwrite only replaces a previous run)" : ""));
        }
        if (!overwrite) {
            throw new TrainingException("RunSpec.out " + dir + " already holds a training run (" + shown
                    + "); continue it with"
                    + " TrainingRun.resume " + dir + ", replace it with RunSpec.overwrite, or use a new or empty"
                    + " directory");
        }
        if (Files.isDirectory(abs)) {
            try {
                Files.move(abs, replaced, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                throw new TrainingException(
                        "RunSpec.overwrite: cannot move the previous run in " + dir + " aside to replace it: "
                                + ErrorMessages.describe(e),
                        e);
            }
        }
        for (Path p : swap) {
            deleteTree(p);
        }
        deleteTree(replaced);
    }

    /**
     * The entries of {@code dir} a run does not write (by name; at the top, "name/" for a directory that
     * is not a sweep's SAE directory or its checkpoint swap sibling).
     */
    private static List<String> foreignIn(Path dir, boolean top) throws IOException {
        List<String> foreign = new java.util.ArrayList<>();
        try (Stream<Path> entries = Files.list(dir)) {
            for (Path p : entries.sorted().toList()) {
                String name = p.getFileName().toString();
                if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                    if (!top || !foreignIn(p, false).isEmpty()) {
                        foreign.add(name + "/");
                    }
                } else if (!isOurs(name) || !Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
                    foreign.add(name);
                }
            }
        }
        return foreign;
    }

    private static List<String> names(Path dir) throws IOException {
        try (Stream<Path> entries = Files.list(dir)) {
            return entries.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    private static Path sibling(Path dir, String suffix) {
        return dir.resolveSibling(dir.getFileName() + suffix);
    }

    private static void deleteTree(Path tree) throws IOException {
        if (!Files.exists(tree, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(tree)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        } catch (java.io.UncheckedIOException e) {
            throw e.getCause();
        }
    }

    /** Our files, and the temporary files of an atomic write that a crash left behind. */
    private static boolean isOurs(String name) {
        return OURS.contains(name)
                || name.equals(ShardedCheckpoint.MANIFEST)
                || SHARDS.matcher(name).matches()
                || (name.startsWith(".") && name.contains(".tmp-"));
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
     * @throws TrainingException naming the directory, the step and the cause
     */
    void save(Sae sae, Map<String, ?> metadata, Map<String, String> extra, long step) {
        try {
            beforeSave.accept(dir);
            save(sae, metadata, extra);
        } catch (IOException | java.io.UncheckedIOException e) {
            deleteQuietly(dir.resolveSibling(dir.getFileName() + ".incoming"));
            boolean previous = Files.exists(dir.resolve(Checkpoint.STATE_FILE));
            throw new TrainingException(
                    "could not write the checkpoint of step " + step + " to " + dir + ": "
                            + ErrorMessages.describe(e instanceof java.io.UncheckedIOException u ? u.getCause() : e)
                            + (previous ? "; the previous checkpoint there is intact" : ""),
                    e);
        }
    }

    /**
     * Saves this rank's shard of a latent-sharded SAE ({@link ShardedCheckpoint}; every rank calls it) and,
     * at {@code last}, the whole SAE's SAELens files, gathered to rank 0, which writes them. A failed write
     * is one clear error; the previous checkpoint stays (a save commits only once every shard is written).
     *
     * @param step the run's step, for the message
     * @throws TrainingException naming the directory, the step and the cause
     */
    void saveShards(ShardedSae sae, Map<String, ?> metadata, Map<String, String> extra, long step, boolean last) {
        try {
            ShardedCheckpoint.save(sae, dir, extra);
            if (last) {
                Optional<Sae> whole = sae.gather();
                if (whole.isPresent()) {
                    try (Sae gathered = whole.get()) {
                        SaeLens.saveInference(gathered, dir, metadata);
                    }
                }
            }
        } catch (IOException | java.io.UncheckedIOException e) {
            throw new TrainingException(
                    "could not write the latent-sharded checkpoint of step " + step + " to " + dir + ": "
                            + ErrorMessages.describe(e instanceof java.io.UncheckedIOException u ? u.getCause() : e),
                    e);
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
