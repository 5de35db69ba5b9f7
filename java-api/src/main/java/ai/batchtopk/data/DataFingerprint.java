package ai.batchtopk.data;

import ai.batchtopk.io.JsonCodec;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * What a checkpoint remembers of every file its run reads ({@code --data}, {@code --text},
 * {@code --eval-data}), so that {@code --resume} can tell the same data from changed data of the same
 * shape: a file replaced by another, f64 saved in place of f32, a row edited.
 *
 * <p>Per file: its path, size, modification time, element type and shape (activations), and a SHA-256
 * of sampled blocks: the whole file up to {@value #WHOLE_FILE_LIMIT} bytes, else its first and last
 * {@value #BLOCK} bytes and {@value #SAMPLES} blocks between at fixed fractions of its length. Reading
 * about a megabyte per file keeps this cheap for shards of any size; an edit the samples miss still
 * changes the modification time.
 *
 * @param sources in the order the run reads them
 */
public record DataFingerprint(List<Source> sources) {
    /** The checkpoint metadata key. */
    public static final String KEY = "batchtopk.data.fingerprint";

    public static final int BLOCK = 64 * 1024;
    public static final int SAMPLES = 16;
    public static final long WHOLE_FILE_LIMIT = (long) (SAMPLES + 2) * BLOCK;

    /**
     * One file.
     *
     * @param option the option that named it: --data, --text or --eval-data
     * @param path absolute
     * @param modified the modification time (ISO-8601, as precise as the file system keeps it)
     * @param dtype the element type of its activations; "" for text
     * @param shape its activations as read, {@code [rows, d]}; empty for text
     * @param sample hex SHA-256 of the sampled blocks
     */
    public record Source(
            String option,
            String path,
            long size,
            String modified,
            String dtype,
            List<Long> shape,
            @JsonProperty("sample_sha256") String sample) {
        public Source {
            if (option == null
                    || path == null
                    || modified == null
                    || dtype == null
                    || shape == null
                    || sample == null) {
                throw new IllegalArgumentException("a data fingerprint entry lacks a key");
            }
            shape = List.copyOf(shape);
        }
    }

    public DataFingerprint {
        sources = List.copyOf(sources);
    }

    /** The files of activations as {@code data} reads them (each with its dtype and shape). */
    public static DataFingerprint ofActivations(String option, ActivationData data) throws IOException {
        List<Source> sources = new ArrayList<>();
        for (ActivationData.Part part : data.parts()) {
            sources.add(source(
                    option,
                    part.path(),
                    part.rows().dtype().toString(),
                    Arrays.stream(part.rows().shape()).boxed().toList()));
        }
        return new DataFingerprint(sources);
    }

    /** Text files, or directories of them (every regular file inside, recursively, in sorted order). */
    public static DataFingerprint ofText(String option, List<Path> paths) throws IOException {
        List<Source> sources = new ArrayList<>();
        for (Path path : paths) {
            List<Path> files;
            if (Files.isDirectory(path)) {
                try (Stream<Path> walk = Files.walk(path)) {
                    files = walk.filter(Files::isRegularFile).sorted().toList();
                }
            } else {
                files = List.of(path);
            }
            for (Path file : files) {
                sources.add(source(option, file, "", List.of()));
            }
        }
        return new DataFingerprint(sources);
    }

    /** Both runs of files, this one's first. */
    public DataFingerprint plus(DataFingerprint other) {
        List<Source> all = new ArrayList<>(sources);
        all.addAll(other.sources);
        return new DataFingerprint(all);
    }

    private static Source source(String option, Path file, String dtype, List<Long> shape) throws IOException {
        Path abs = file.toAbsolutePath().normalize();
        try (FileChannel channel = FileChannel.open(abs, StandardOpenOption.READ)) {
            long size = channel.size();
            return new Source(
                    option,
                    abs.toString(),
                    size,
                    Files.getLastModifiedTime(abs).toString(),
                    dtype,
                    shape,
                    sample(channel, size));
        }
    }

    private static String sample(FileChannel channel, long size) throws IOException {
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        ByteBuffer buffer = ByteBuffer.allocate(BLOCK);
        if (size <= WHOLE_FILE_LIMIT) {
            for (long at = 0; at < size; at += BLOCK) {
                digest(channel, at, sha, buffer);
            }
        } else {
            digest(channel, 0, sha, buffer);
            for (int i = 1; i <= SAMPLES; i++) {
                digest(channel, (size - BLOCK) / (SAMPLES + 1) * i, sha, buffer);
            }
            digest(channel, size - BLOCK, sha, buffer);
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    /** Adds up to one block from {@code at} (less at the end of the file) to the digest. */
    private static void digest(FileChannel channel, long at, MessageDigest sha, ByteBuffer buffer) throws IOException {
        buffer.clear();
        while (buffer.hasRemaining()) {
            int n = channel.read(buffer, at + buffer.position());
            if (n < 0) {
                break;
            }
        }
        buffer.flip();
        sha.update(buffer);
    }

    /** As saved in a checkpoint's metadata. */
    public String toJson() {
        return JsonCodec.write(sources);
    }

    /**
     * The fingerprint saved as {@link #toJson()}.
     *
     * @throws IllegalArgumentException if it is not one
     */
    public static DataFingerprint fromJson(String json) {
        Source[] sources = JsonCodec.read(json, Source[].class);
        if (Arrays.asList(sources).contains(null)) {
            throw new IllegalArgumentException("a data fingerprint entry is null");
        }
        return new DataFingerprint(List.of(sources));
    }

    /**
     * How this data differs from what {@code saved} describes, one phrase per change, naming the file
     * and what changed; empty when nothing did.
     */
    public List<String> changesSince(DataFingerprint saved) {
        List<String> changes = new ArrayList<>();
        Set<String> options = new LinkedHashSet<>();
        saved.sources.forEach(s -> options.add(s.option()));
        sources.forEach(s -> options.add(s.option()));
        for (String option : options) {
            List<Source> before = saved.of(option);
            List<Source> now = of(option);
            List<String> pathsBefore = before.stream().map(Source::path).toList();
            List<String> pathsNow = now.stream().map(Source::path).toList();
            if (!pathsBefore.equals(pathsNow)) {
                List<String> removed =
                        pathsBefore.stream().filter(p -> !pathsNow.contains(p)).toList();
                List<String> added =
                        pathsNow.stream().filter(p -> !pathsBefore.contains(p)).toList();
                changes.add(option + " "
                        + (removed.isEmpty() && added.isEmpty()
                                ? "reads its files in another order"
                                : (removed.isEmpty() ? "" : "no longer has " + String.join(", ", removed))
                                        + (removed.isEmpty() || added.isEmpty() ? "" : " and ")
                                        + (added.isEmpty() ? "" : "now also has " + String.join(", ", added))));
                continue;
            }
            for (int i = 0; i < now.size(); i++) {
                String change = difference(before.get(i), now.get(i));
                if (!change.isEmpty()) {
                    changes.add(now.get(i).path() + ": " + change);
                }
            }
        }
        return changes;
    }

    private List<Source> of(String option) {
        return sources.stream().filter(s -> s.option().equals(option)).toList();
    }

    private static String difference(Source before, Source now) {
        List<String> parts = new ArrayList<>();
        if (!before.dtype().equals(now.dtype())) {
            parts.add("dtype " + before.dtype() + " -> " + now.dtype());
        }
        if (!before.shape().equals(now.shape())) {
            parts.add("shape " + before.shape() + " -> " + now.shape());
        }
        if (before.size() != now.size()) {
            parts.add("size " + before.size() + " -> " + now.size() + " bytes");
        }
        if (!before.sample().equals(now.sample())) {
            parts.add("content differs");
        }
        if (!before.modified().equals(now.modified())) {
            parts.add("modified " + before.modified() + " -> " + now.modified());
        }
        return String.join(", ", parts);
    }
}
