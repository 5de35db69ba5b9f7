package ai.batchtopk;

import ai.batchtopk.io.MalformedFileException;
import ai.batchtopk.io.Safetensors;
import ai.batchtopk.io.SafetensorsFile;
import ai.batchtopk.io.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;

/**
 * Training checkpoints: everything needed to continue a run as if it had never stopped.
 *
 * <p>A checkpoint is an SAELens directory ({@link SaeLens#saveInference}), so any checkpoint can also
 * be used for inference, plus {@value #STATE_FILE} holding every state tensor the SAE lists
 * (parameters, Adam moments, step, dead-latent counters, theta, log_threshold) except gradients, and
 * the caller's own strings (data position, RNG state...) in its {@code __metadata__}.
 *
 * <p>A crash during a save never leaves a half-written checkpoint. The new one is written complete
 * into {@code <dir>.incoming} and synced; then the old directory is renamed to {@code <dir>.previous},
 * the new one renamed into place, and the old one deleted. If a crash falls between the two renames,
 * {@code <dir>} is missing while both others exist, and the next {@link #save}, {@link #resume} or
 * {@link #recover} finishes the swap: {@code .incoming} was complete before {@code .previous} was made.
 */
public final class Checkpoint {
    public static final String STATE_FILE = "training_state.safetensors";
    private static final Set<String> OWN_FILES = Set.of(SaeLens.CONFIG_FILE, SaeLens.WEIGHTS_FILE, STATE_FILE);
    private static final String INCOMING = ".incoming";
    private static final String PREVIOUS = ".previous";

    private Checkpoint() {}

    /**
     * A resumed SAE and the strings saved with it. The caller owns the SAE; closing this closes it,
     * for callers that use it within one block.
     */
    public record Loaded(Sae sae, Map<String, String> extra) implements AutoCloseable {
        public Loaded {
            Objects.requireNonNull(sae, "sae");
            extra = Map.copyOf(extra);
        }

        @Override
        public void close() {
            sae.close();
        }
    }

    /** Saves a checkpoint with no SAELens metadata. */
    public static void save(Sae sae, Path dir, Map<String, String> extra) throws IOException {
        save(sae, dir, Map.of(), extra);
    }

    /**
     * Saves a checkpoint into {@code dir}, replacing any checkpoint there atomically. Other plain files
     * in {@code dir} are kept.
     *
     * @param metadata SAELens metadata for cfg.json (see {@link SaeLens#saveInference})
     * @param extra strings restored by {@link #resume}, e.g. the data position
     */
    public static void save(Sae sae, Path dir, Map<String, ?> metadata, Map<String, String> extra) throws IOException {
        Objects.requireNonNull(sae, "sae");
        Objects.requireNonNull(extra, "extra");
        Path target = dir.toAbsolutePath().normalize();
        Path incoming = sibling(target, INCOMING);
        Path previous = sibling(target, PREVIOUS);
        Files.createDirectories(target.getParent());
        finishInterruptedSwap(target);
        List<Path> others = othersIn(target);
        deleteRecursively(incoming); // a save that died while writing
        deleteRecursively(previous); // a save that died before its last delete

        SaeLens.saveInference(sae, incoming, metadata);
        try (Arena arena = Arena.ofConfined()) {
            Map<String, Tensor> state = new LinkedHashMap<>();
            for (String name : sae.stateNames()) {
                if (!name.startsWith("grad.")) {
                    state.put(name, sae.state(name, arena));
                }
            }
            Safetensors.write(incoming.resolve(STATE_FILE), state, extra);
        }
        for (Path other : others) {
            carryOver(other, incoming.resolve(other.getFileName()));
        }
        syncFiles(incoming);

        if (Files.exists(target)) {
            Files.move(target, previous, StandardCopyOption.ATOMIC_MOVE);
            syncDirectory(target.getParent());
        }
        Files.move(incoming, target, StandardCopyOption.ATOMIC_MOVE);
        syncDirectory(target.getParent());
        deleteRecursively(previous);
        // The copies of every state tensor were freed: without this, the C library keeps them resident.
        NativeMemory.releaseFreed();
    }

    /**
     * Finishes a save that a crash interrupted between its two renames, so that {@code dir} holds the
     * newest complete checkpoint again; does nothing otherwise. Callers that read files of {@code dir}
     * other than through {@link #resume} (a run's own files kept beside the checkpoint) call it first.
     */
    public static void recover(Path dir) throws IOException {
        finishInterruptedSwap(dir.toAbsolutePath().normalize());
    }

    /** Resumes a checkpoint with the config it was saved with. */
    public static Loaded resume(Path dir) throws IOException {
        return resume(dir, UnaryOperator.identity());
    }

    /**
     * Resumes a checkpoint: a new SAE with every saved state tensor restored exactly.
     *
     * @param adjust changes to the training settings (device, path, lr...), as in {@link SaeLens#load}
     */
    public static Loaded resume(Path dir, UnaryOperator<SaeConfig.Builder> adjust) throws IOException {
        Path target = dir.toAbsolutePath().normalize();
        finishInterruptedSwap(target);
        Path stateFile = target.resolve(STATE_FILE);
        if (!Files.exists(stateFile)) {
            throw new NoSuchFileException(
                    stateFile.toString(),
                    null,
                    "not a training checkpoint (an inference save? load it with SaeLens.load)");
        }
        Sae sae = SaeLens.load(target, adjust);
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile state = Safetensors.open(stateFile, arena);
            TreeSet<String> expected = new TreeSet<>();
            for (String name : sae.stateNames()) {
                if (!name.startsWith("grad.")) {
                    expected.add(name);
                }
            }
            TreeSet<String> missing = new TreeSet<>(expected);
            missing.removeAll(state.tensors().keySet());
            TreeSet<String> unknown = new TreeSet<>(state.tensors().keySet());
            unknown.removeAll(expected);
            if (!missing.isEmpty() || !unknown.isEmpty()) {
                throw new MalformedFileException(
                        stateFile,
                        "does not match the SAE its cfg.json describes"
                                + (missing.isEmpty() ? "" : "; missing " + missing)
                                + (unknown.isEmpty() ? "" : "; unexpected " + unknown));
            }
            for (String name : expected) {
                sae.setState(name, state.get(name));
            }
            return new Loaded(sae, state.metadata());
        } catch (IOException | RuntimeException e) {
            sae.close();
            throw e;
        }
    }

    /**
     * The entries of an existing checkpoint directory that a save does not write itself (a run's
     * metrics log, a user's notes): they move into the new directory, since a save never deletes what
     * is not its own. Only plain files can be carried; anything else stops the save before it starts.
     */
    private static List<Path> othersIn(Path target) throws IOException {
        if (!Files.isDirectory(target)) {
            return List.of();
        }
        List<Path> others;
        try (Stream<Path> entries = Files.list(target)) {
            others = entries.filter(p -> !OWN_FILES.contains(p.getFileName().toString()))
                    .toList();
        }
        for (Path other : others) {
            if (!Files.isRegularFile(other, LinkOption.NOFOLLOW_LINKS)) {
                throw new IOException("cannot save a checkpoint into " + target + ": it holds " + other.getFileName()
                        + ", which is not a plain file, and a save replaces the directory as a whole");
            }
        }
        return others;
    }

    /** A hard link keeps a file that is open for appending (a metrics log) the same file. */
    private static void carryOver(Path from, Path to) throws IOException {
        try {
            Files.createLink(to, from);
        } catch (IOException | UnsupportedOperationException e) {
            Files.copy(from, to, StandardCopyOption.COPY_ATTRIBUTES);
        }
    }

    /** After a crash between the two renames: {@code .incoming} is complete, so move it into place. */
    private static void finishInterruptedSwap(Path target) throws IOException {
        Path incoming = sibling(target, INCOMING);
        Path previous = sibling(target, PREVIOUS);
        if (!Files.exists(target) && Files.isDirectory(previous) && Files.isDirectory(incoming)) {
            Files.move(incoming, target, StandardCopyOption.ATOMIC_MOVE);
            syncDirectory(target.getParent());
            deleteRecursively(previous);
        }
    }

    private static Path sibling(Path target, String suffix) {
        return target.resolveSibling(target.getFileName() + suffix);
    }

    /** Makes the files of a directory, and its entries, durable. */
    private static void syncFiles(Path dir) throws IOException {
        List<Path> files;
        try (Stream<Path> entries = Files.list(dir)) {
            files = entries.filter(Files::isRegularFile).toList();
        }
        for (Path file : files) {
            try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
                channel.force(true);
            }
        }
        syncDirectory(dir);
    }

    /** Makes a directory's entries (renames into or out of it) durable. */
    private static void syncDirectory(Path dir) {
        try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ)) {
            channel.force(true);
        } catch (IOException | UnsupportedOperationException e) {
            // Directories cannot be opened for syncing on every platform (Windows); best effort there.
        }
    }

    private static void deleteRecursively(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }
}
