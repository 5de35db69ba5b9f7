package ai.batchtopk;

import ai.batchtopk.io.AtomicFiles;
import ai.batchtopk.io.JsonCodec;
import ai.batchtopk.io.MalformedFileException;
import ai.batchtopk.io.Safetensors;
import ai.batchtopk.io.SafetensorsFile;
import ai.batchtopk.io.Tensor;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * Checkpoints of a {@link ShardedSae}: one file per shard plus a manifest, so that no rank ever holds
 * more than its own shard (for an SAELens directory of the whole SAE, {@link ShardedSae#gather} and
 * {@link Checkpoint#save} on rank 0).
 *
 * <pre>
 * dir/shards.json                                  manifest: format, world_size, generation, step, config
 * dir/shards-&lt;generation&gt;/shard-&lt;rank&gt;-of-&lt;N&gt;.safetensors   every state tensor of that shard but
 *                                                  the gradients; the caller's strings in __metadata__
 * </pre>
 *
 * <p>Each save writes a new generation's directory; every rank writes its file (atomically), and once
 * all have, rank 0 replaces the manifest (atomically), which is what makes the new generation the
 * checkpoint, and deletes the older ones. A crash at any point leaves the last complete checkpoint
 * readable. The ranks share the file system the checkpoint is on.
 *
 * <p>A checkpoint resumes with the world size that wrote it or with another (each rank re-slices its
 * latents from the files that hold them).
 */
public final class ShardedCheckpoint {
    public static final String MANIFEST = "shards.json";
    private static final String FORMAT = "batchtopk latent shards";
    private static final String GENERATION_PREFIX = "shards-";

    private ShardedCheckpoint() {}

    /** A resumed shard and the strings saved with it. Closing this closes the shard (not the group). */
    public record Loaded(ShardedSae sae, Map<String, String> extra) implements AutoCloseable {
        public Loaded {
            Objects.requireNonNull(sae, "sae");
            extra = Map.copyOf(extra);
        }

        @Override
        public void close() {
            sae.close();
        }
    }

    /**
     * Saves every rank's shard into {@code dir}, replacing any checkpoint there. Every rank of the
     * shard's group calls it with the same {@code dir}.
     *
     * @param extra strings restored by {@link #resume}, e.g. the data position (the same on every rank)
     */
    public static void save(ShardedSae sae, Path dir, Map<String, String> extra) throws IOException {
        Objects.requireNonNull(sae, "sae");
        Objects.requireNonNull(extra, "extra");
        Path target = dir.toAbsolutePath().normalize();
        ProcessGroup group = sae.group();
        ShardedSae.Shard place = sae.shard();
        Files.createDirectories(target);
        long generation =
                Files.exists(target.resolve(MANIFEST)) ? manifest(target).generation() + 1 : 1;
        group.barrier(); // every rank has read the old manifest before rank 0 replaces it

        Path files = target.resolve(GENERATION_PREFIX + generation);
        Files.createDirectories(files);
        Map<String, String> metadata = new LinkedHashMap<>(extra);
        metadata.put("shard", place.rank() + " of " + place.worldSize());
        metadata.put("first_latent", Long.toString(place.firstLatent()));
        metadata.put("latents", Long.toString(place.latents()));
        try (Arena arena = Arena.ofConfined()) {
            Map<String, Tensor> state = new LinkedHashMap<>();
            for (String name : sae.stateNames()) {
                if (!name.startsWith("grad.")) {
                    state.put(name, sae.state(name, arena));
                }
            }
            Safetensors.write(files.resolve(shardFile(place.rank(), place.worldSize())), state, metadata);
        }
        group.barrier(); // every shard is written

        if (place.rank() == 0) {
            long step = sae.state("step", Arena.ofAuto()).data().get(Tensor.I64_LE, 0);
            Map<String, Object> manifest = new LinkedHashMap<>();
            manifest.put("format", FORMAT);
            manifest.put("world_size", place.worldSize());
            manifest.put("generation", generation);
            manifest.put("step", step);
            manifest.put("config", ConfigJson.toJson(sae.config()));
            AtomicFiles.writeString(target.resolve(MANIFEST), JsonCodec.writePretty(manifest) + "\n");
            deleteOtherGenerations(target, files);
        }
        group.barrier(); // the checkpoint is complete on every rank's return
        NativeMemory.releaseFreed();
    }

    /**
     * This rank's shard from the checkpoint in {@code dir}, every saved state tensor restored exactly.
     * The group may have another world size than the one that saved: each rank then takes its latents'
     * slices from the files of the shards that held them (re-slicing), and the shards together are the
     * same SAE.
     *
     * @throws IllegalArgumentException when the SAE has fewer latents than the group has ranks
     * @throws MalformedFileException when a shard's file does not match the manifest
     */
    public static Loaded resume(Path dir, ProcessGroup group) throws IOException {
        Objects.requireNonNull(group, "group");
        Path target = dir.toAbsolutePath().normalize();
        if (!Files.exists(target.resolve(MANIFEST))) {
            throw new NoSuchFileException(
                    target.resolve(MANIFEST).toString(), null, "not a latent-sharded checkpoint (no " + MANIFEST + ")");
        }
        Manifest manifest = manifest(target);
        if (manifest.config().dSae() < group.worldSize()) {
            throw new IllegalArgumentException("the latent-sharded checkpoint in " + target + " has d_sae = "
                    + manifest.config().dSae() + " latents, which cannot be sharded over " + group.worldSize()
                    + " ranks (it was written by " + manifest.worldSize() + ")");
        }
        Path files = target.resolve(GENERATION_PREFIX + manifest.generation());
        ShardedSae sae = ShardedSae.create(manifest.config(), group);
        try (Arena arena = Arena.ofConfined()) {
            ShardedSae.Shard mine = sae.shard();
            Map<String, Tensor> state = new LinkedHashMap<>();
            for (String name : sae.stateNames()) {
                if (!name.startsWith("grad.")) {
                    Sae.StateInfo info = sae.stateInfo(name);
                    state.put(name, Tensor.allocate(info.dtype(), info.shape(), arena));
                }
            }
            Map<String, String> extra = null;
            for (int rank = 0; rank < manifest.worldSize(); rank++) {
                ShardedSae.Shard saved = place(mine.dSae(), rank, manifest.worldSize());
                long from = Math.max(mine.firstLatent(), saved.firstLatent());
                long to = Math.min(mine.firstLatent() + mine.latents(), saved.firstLatent() + saved.latents());
                if (from >= to) {
                    continue;
                }
                try (Arena file = Arena.ofConfined()) {
                    Path path = files.resolve(shardFile(rank, manifest.worldSize()));
                    SafetensorsFile shard = Safetensors.open(path, file);
                    requireShard(path, shard, saved, state.keySet());
                    for (Map.Entry<String, Tensor> entry : state.entrySet()) {
                        copySlice(
                                path,
                                entry.getKey(),
                                shard.get(entry.getKey()),
                                saved,
                                entry.getValue(),
                                mine,
                                from,
                                to,
                                extra == null);
                    }
                    if (extra == null) {
                        extra = new LinkedHashMap<>(shard.metadata());
                        extra.keySet().removeAll(List.of("shard", "first_latent", "latents"));
                    }
                }
            }
            for (Map.Entry<String, Tensor> entry : state.entrySet()) {
                sae.setState(entry.getKey(), entry.getValue());
            }
            return new Loaded(sae, extra);
        } catch (IOException | RuntimeException e) {
            sae.close();
            throw e;
        } finally {
            NativeMemory.releaseFreed();
        }
    }

    /** The latents rank r of a world of n owns, by the native rule (see {@link ShardedSae}). */
    static ShardedSae.Shard place(long dSae, int rank, int worldSize) {
        long each = dSae / worldSize;
        long extra = dSae % worldSize;
        return new ShardedSae.Shard(
                rank, worldSize, rank * each + Math.min(rank, extra), each + (rank < extra ? 1 : 0), dSae);
    }

    private static void requireShard(Path path, SafetensorsFile file, ShardedSae.Shard saved, Set<String> names)
            throws MalformedFileException {
        String expected = saved.rank() + " of " + saved.worldSize();
        if (!expected.equals(file.metadata().get("shard"))
                || !Long.toString(saved.firstLatent()).equals(file.metadata().get("first_latent"))
                || !Long.toString(saved.latents()).equals(file.metadata().get("latents"))) {
            throw new MalformedFileException(
                    path,
                    "holds shard " + file.metadata().get("shard") + " with "
                            + file.metadata().get("latents")
                            + " latents from " + file.metadata().get("first_latent") + "; expected shard " + expected
                            + " with " + saved.latents() + " from " + saved.firstLatent());
        }
        if (!new TreeSet<>(names).equals(new TreeSet<>(file.tensors().keySet()))) {
            throw new MalformedFileException(
                    path,
                    "holds " + new TreeSet<>(file.tensors().keySet()) + " but a shard has " + new TreeSet<>(names));
        }
    }

    /**
     * Copies latents [from, to) of a saved shard's tensor into this shard's; a tensor every shard holds
     * whole (b_dec, step, theta) is copied when {@code whole} is set.
     */
    private static void copySlice(
            Path path,
            String name,
            Tensor source,
            ShardedSae.Shard saved,
            Tensor target,
            ShardedSae.Shard mine,
            long from,
            long to,
            boolean whole)
            throws MalformedFileException {
        int axis = latentAxis(name);
        long[] expected = target.shape();
        if (axis >= 0) {
            expected[axis] = saved.latents();
        }
        if (source.dtype() != target.dtype() || !Arrays.equals(source.shape(), expected)) {
            throw new MalformedFileException(
                    path,
                    "'" + name + "' is " + source.dtype() + " " + Arrays.toString(source.shape()) + "; expected "
                            + target.dtype() + " " + Arrays.toString(expected));
        }
        long element = target.dtype().byteSize();
        if (axis < 0) {
            if (whole) {
                MemorySegment.copy(source.data(), 0, target.data(), 0, target.byteSize());
            }
        } else if (axis == 0) {
            long row = target.shape().length > 1 ? target.shape()[1] * element : element;
            MemorySegment.copy(
                    source.data(),
                    (from - saved.firstLatent()) * row,
                    target.data(),
                    (from - mine.firstLatent()) * row,
                    (to - from) * row);
        } else {
            for (long i = 0; i < target.shape()[0]; i++) {
                MemorySegment.copy(
                        source.data(),
                        (i * saved.latents() + from - saved.firstLatent()) * element,
                        target.data(),
                        (i * mine.latents() + from - mine.firstLatent()) * element,
                        (to - from) * element);
            }
        }
    }

    /** Which dimension of a state tensor indexes the latents: 1 for W_enc [d_in, latents]; -1 for none. */
    private static int latentAxis(String name) {
        String base = name.startsWith("adam.m.") || name.startsWith("adam.v.") ? name.substring(7) : name;
        return switch (base) {
            case "W_enc" -> 1;
            case "W_dec", "b_enc", "tokens_since_fired" -> 0;
            default -> -1;
        };
    }

    private record Manifest(int worldSize, long generation, SaeConfig config) {}

    private static Manifest manifest(Path target) throws IOException {
        Path file = target.resolve(MANIFEST);
        JsonNode json;
        try {
            json = JsonCodec.parseTree(Files.readString(file));
        } catch (IllegalArgumentException e) {
            throw new MalformedFileException(file, e.getMessage(), e);
        }
        if (!FORMAT.equals(json.path("format").asText())) {
            throw new MalformedFileException(
                    file, "is not a manifest of latent shards (format is not \"" + FORMAT + "\")");
        }
        JsonNode world = json.path("world_size");
        JsonNode generation = json.path("generation");
        if (!world.canConvertToInt()
                || world.asInt() < 1
                || !generation.canConvertToLong()
                || generation.asLong() < 1) {
            throw new MalformedFileException(file, "needs a positive world_size and generation");
        }
        try {
            return new Manifest(world.asInt(), generation.asLong(), ConfigJson.fromJson(json.path("config")));
        } catch (IllegalArgumentException e) {
            throw new MalformedFileException(file, "config: " + e.getMessage(), e);
        }
    }

    static String shardFile(int rank, int worldSize) {
        return String.format("shard-%05d-of-%05d.safetensors", rank, worldSize);
    }

    /** What earlier or interrupted saves left: generations other than the committed one. */
    private static void deleteOtherGenerations(Path target, Path committed) throws IOException {
        List<Path> stale;
        try (Stream<Path> entries = Files.list(target)) {
            stale = entries.filter(
                            p -> p.getFileName().toString().startsWith(GENERATION_PREFIX) && !p.equals(committed))
                    .toList();
        }
        for (Path dir : stale) {
            try (Stream<Path> walk = Files.walk(dir)) {
                for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(p);
                }
            } catch (UncheckedIOException e) {
                throw e.getCause();
            }
        }
    }
}
