package ai.batchtopk.extract;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The {@code --out} directory of an extraction, which never holds a mixture of two extractions.
 *
 * <p>A directory that is not empty is refused unless {@code --overwrite} is given, and even then one
 * holding files an extraction does not write is refused (a mistyped {@code --out} must not cost anyone
 * their files). The extraction is written into a staging directory inside it,
 * {@code .extract.tmp-<random>}, and only when it is complete are the earlier extraction's files deleted
 * ({@code extraction.json} first) and the new ones moved in ({@code extraction.json} last): until then
 * the earlier extraction is untouched, and a crash during the swap leaves no old file beside a new one,
 * only a directory without {@code extraction.json}. A failed extraction deletes its staging directory; a
 * killed one leaves it behind, and the next extraction there needs {@code --overwrite}, which removes it.
 */
final class ExtractionDirectory {
    private static final String STAGING_PREFIX = ".extract.tmp-";
    private static final Pattern SHARD = Pattern.compile("activations-\\d{5,}\\.npy");

    private final Path dir;
    private Path staging;

    private ExtractionDirectory(Path dir) {
        this.dir = dir;
    }

    /**
     * Checks that {@code out} may be written to (nothing is created yet).
     *
     * @throws IOException if it is a file; if it is not empty and {@code overwrite} is false; if it holds
     *     files an extraction does not write
     */
    static ExtractionDirectory check(Path out, boolean overwrite) throws IOException {
        Path dir = out.toAbsolutePath().normalize();
        if (Files.exists(dir) && !Files.isDirectory(dir)) {
            throw new IOException("--out " + out + " exists and is not a directory");
        }
        if (Files.isDirectory(dir)) {
            List<String> entries = entries(dir).stream()
                    .map(p -> p.getFileName().toString())
                    .sorted()
                    .toList();
            List<String> foreign =
                    entries.stream().filter(name -> !isOurs(dir.resolve(name))).toList();
            if (!foreign.isEmpty()) {
                throw new IOException("--out " + out + " holds files an extraction does not write (" + list(foreign)
                        + "); use a new or empty directory"
                        + (overwrite ? " (--overwrite replaces only an earlier" + " extraction)" : ""));
            }
            if (!entries.isEmpty() && !overwrite) {
                throw new IOException("--out " + out + " is not empty (" + list(entries) + "); pass --overwrite to"
                        + " replace the extraction in it, or use a new or empty directory");
            }
        }
        return new ExtractionDirectory(dir);
    }

    /** Creates the directory and an empty staging directory in it, where the extraction is written. */
    Path begin() throws IOException {
        Files.createDirectories(dir);
        HexFormat hex = HexFormat.of();
        staging = Files.createDirectory(dir.resolve(
                STAGING_PREFIX + hex.toHexDigits(ThreadLocalRandom.current().nextLong())));
        return staging;
    }

    /**
     * Replaces whatever earlier extraction the directory holds with the staged one (see the class
     * comment), syncing the files first so that the swap is durable.
     */
    void commit() throws IOException {
        List<Path> fresh = entries(staging);
        for (Path file : fresh) {
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                ch.force(true);
            }
        }
        Path summary = dir.resolve(ExtractCommand.SUMMARY);
        Files.deleteIfExists(summary);
        for (Path old : entries(dir)) {
            if (!old.equals(staging) && isOurs(old)) {
                deleteRecursively(old);
            }
        }
        syncDirectory(dir);
        for (Path file : fresh.stream()
                .sorted(Comparator.comparing((Path p) -> p.endsWith(ExtractCommand.SUMMARY))
                        .thenComparing(Comparator.naturalOrder()))
                .toList()) {
            Files.move(file, dir.resolve(file.getFileName()), StandardCopyOption.ATOMIC_MOVE);
        }
        Files.delete(staging);
        syncDirectory(dir);
        staging = null;
    }

    /** Deletes the staging directory of an extraction that failed (best effort: the error is the one to see). */
    void abandon() {
        if (staging == null) {
            return;
        }
        try {
            deleteRecursively(staging);
        } catch (IOException | RuntimeException ignored) {
            // Left behind; the next extraction here needs --overwrite, which removes it.
        }
        staging = null;
    }

    Path path() {
        return dir;
    }

    /** The files an extraction writes, the temporary files of an atomic write and a staging directory. */
    private static boolean isOurs(Path p) {
        String name = p.getFileName().toString();
        if (Files.isDirectory(p)) {
            return name.startsWith(STAGING_PREFIX);
        }
        return SHARD.matcher(name).matches()
                || name.equals(ExtractCommand.TOKENS)
                || name.equals(ExtractCommand.DOCUMENTS)
                || name.equals(ExtractCommand.SUMMARY)
                || (name.startsWith(".") && name.contains(".tmp-"));
    }

    private static List<Path> entries(Path dir) throws IOException {
        try (Stream<Path> list = Files.list(dir)) {
            return list.toList();
        }
    }

    private static String list(List<String> names) {
        return String.join(", ", names.subList(0, Math.min(5, names.size())))
                + (names.size() > 5 ? " and " + (names.size() - 5) + " more" : "");
    }

    private static void deleteRecursively(Path tree) throws IOException {
        try (Stream<Path> walk = Files.walk(tree)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    private static void syncDirectory(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException | UnsupportedOperationException e) {
            // Directories cannot be opened for syncing on every platform (Windows); best effort there.
        }
    }
}
