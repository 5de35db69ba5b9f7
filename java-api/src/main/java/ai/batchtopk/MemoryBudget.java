package ai.batchtopk;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * The memory a training run needs at least, and the memory this process can still take, so that a size
 * too large for the machine is refused with a message instead of ending in the kernel's OOM killer (or a
 * JVM abort under a memory limit).
 *
 * <p>Available memory is the smaller of {@code MemAvailable} in {@code /proc/meminfo} (what can be
 * allocated without swapping) and the room left under the process's cgroup memory limit (v2
 * {@code memory.max}, v1 {@code memory.limit_in_bytes}, minus the usage that is not reclaimable page
 * cache). Off-heap buffers ({@link java.lang.foreign.Arena}) and libtorch's tensors come from there:
 * neither counts against {@code -Xmx} or {@code -XX:MaxDirectMemorySize}. Where none of these files
 * exist (not Linux), nothing is refused.
 *
 * <p>The needs are lower bounds (what the tensors named take, nothing for allocator overhead or the
 * JVM), so that a refusal is always right: what passes may still be too much on a crowded machine.
 */
public final class MemoryBudget {
    /**
     * Memory this process can still take.
     *
     * @param bytes available bytes ({@link Long#MAX_VALUE} when unknown)
     * @param source where the figure comes from, for messages
     */
    public record Available(long bytes, String source) {
        /** Whether {@code need} bytes fit. */
        public boolean fits(long need) {
            return need <= bytes;
        }

        @Override
        public String toString() {
            return bytes == Long.MAX_VALUE ? "an unknown amount" : format(bytes) + " (" + source + ")";
        }
    }

    private static final Path PROC = Path.of("/proc");
    private static final Path CGROUP = Path.of("/sys/fs/cgroup");
    /** cgroup limits at or above this mean "no limit" (v1 writes 2^63 rounded down to a page). */
    private static final long UNLIMITED = 1L << 62;

    private MemoryBudget() {}

    /** Memory this process can still take, read now. */
    public static Available available() {
        return available(PROC, CGROUP);
    }

    /** {@link #available()} with other roots for /proc and /sys/fs/cgroup (for tests). */
    static Available available(Path proc, Path cgroupRoot) {
        long bytes = Long.MAX_VALUE;
        String source = "unknown";
        Long memAvailable = meminfo(proc.resolve("meminfo"), "MemAvailable");
        if (memAvailable != null) {
            bytes = memAvailable;
            source = "MemAvailable in /proc/meminfo";
        }
        Available cgroup = cgroupRoom(proc.resolve("self").resolve("cgroup"), cgroupRoot);
        if (cgroup != null && cgroup.bytes() < bytes) {
            return cgroup;
        }
        return new Available(bytes, source);
    }

    /**
     * Bytes an SAE's state takes at least: encoder and decoder weights, and Adam's two moments of each
     * (3 x 2 x d_in x d_sae elements); biases, counters and gradients come on top.
     */
    public static long saeBytes(long dIn, long dSae, boolean doublePrecision) {
        return multiply(6, dIn, dSae, doublePrecision ? 8 : 4);
    }

    /** Bytes one training or evaluation step of {@code rows} rows takes at least: its pre-activations. */
    public static long stepBytes(long rows, long dSae, boolean doublePrecision) {
        return multiply(1, rows, dSae, doublePrecision ? 8 : 4);
    }

    /**
     * Refuses an SAE whose state alone does not fit in the available memory.
     *
     * @throws IllegalArgumentException naming the shape, the need and what is available
     */
    public static void requireFits(SaeConfig config) {
        long need = saeBytes(config.dIn(), config.dSae(), config.doublePrecision());
        Available available = available();
        if (!available.fits(need)) {
            throw new IllegalArgumentException("an SAE with d_in = " + config.dIn() + " and d_sae = " + config.dSae()
                    + " needs at least " + format(need) + " for its weights and Adam moments ("
                    + (config.doublePrecision() ? "F64" : "F32") + ") but only " + available
                    + " is available; use a smaller d_sae");
        }
    }

    /**
     * Refuses a latent-sharded SAE whose largest shard (ceil(d_sae / worldSize) latents, see
     * {@link ShardedSae}) does not fit in the available memory: what one rank needs is 1/worldSize of
     * the whole SAE.
     *
     * @throws IllegalArgumentException naming the shape, the world size, the need and what is available
     */
    public static void requireShardFits(SaeConfig config, int worldSize) {
        if (worldSize < 1) {
            throw new IllegalArgumentException("world size must be at least 1, got " + worldSize);
        }
        long latents = (config.dSae() + worldSize - 1) / worldSize;
        long need = saeBytes(config.dIn(), latents, config.doublePrecision());
        Available available = available();
        if (!available.fits(need)) {
            throw new IllegalArgumentException("a shard of " + latents + " latents (d_sae = " + config.dSae()
                    + " over " + worldSize + " ranks, d_in = " + config.dIn() + ") needs at least " + format(need)
                    + " for its weights and Adam moments but only " + available
                    + " is available; use more ranks or a smaller d_sae");
        }
    }

    /** The product, or {@link Long#MAX_VALUE} when it overflows (more than any machine has anyway). */
    public static long multiply(long... factors) {
        long product = 1;
        for (long f : factors) {
            try {
                product = Math.multiplyExact(product, f);
            } catch (ArithmeticException e) {
                return Long.MAX_VALUE;
            }
        }
        return product;
    }

    /** Saturating sum. */
    public static long add(long a, long b) {
        long sum = a + b;
        return ((a ^ sum) & (b ^ sum)) < 0 ? Long.MAX_VALUE : sum;
    }

    /** "12.6 GiB", "640 KiB", "37 bytes"; "more than 8 EiB" for a saturated value. */
    public static String format(long bytes) {
        if (bytes == Long.MAX_VALUE) {
            return "more than 8 EiB";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        if (bytes < 1024) {
            return bytes + " bytes";
        }
        double value = bytes;
        int unit = -1;
        while (value >= 1024 && unit < units.length - 1) {
            value /= 1024;
            unit++;
        }
        return String.format(Locale.ROOT, value < 10 ? "%.1f %s" : "%.0f %s", value, units[unit]);
    }

    /** A "Key:   123 kB" line of /proc/meminfo, in bytes; null if absent. */
    private static Long meminfo(Path file, String key) {
        for (String line : lines(file)) {
            if (line.startsWith(key + ":")) {
                String[] f = line.substring(key.length() + 1).strip().split("\\s+");
                try {
                    return Long.parseLong(f[0]) * (f.length > 1 && f[1].equalsIgnoreCase("kB") ? 1024 : 1);
                } catch (NumberFormatException e) {
                    return null;
                }
            }
        }
        return null;
    }

    /**
     * Room under the memory limit of the process's cgroup (v2, else v1): the limit minus the usage that is
     * not inactive page cache. The cgroup's own directory is tried first, then the root of the hierarchy
     * (inside a container, the process's cgroup is the root of what it sees). Null when there is no limit.
     */
    private static Available cgroupRoom(Path selfCgroup, Path root) {
        for (String line : lines(selfCgroup)) {
            String[] f = line.split(":", 3);
            if (f.length != 3) {
                continue;
            }
            String relative = f[2].startsWith("/") ? f[2].substring(1) : f[2];
            if (f[0].equals("0") && f[1].isEmpty()) {
                Available room = room(
                        List.of(root.resolve(relative), root),
                        "memory.max",
                        "memory.current",
                        "inactive_file",
                        "cgroup v2 memory.max");
                if (room != null) {
                    return room;
                }
            } else if (List.of(f[1].split(",")).contains("memory")) {
                Path v1 = root.resolve("memory");
                Available room = room(
                        List.of(v1.resolve(relative), v1),
                        "memory.limit_in_bytes",
                        "memory.usage_in_bytes",
                        "total_inactive_file",
                        "cgroup v1 memory.limit_in_bytes");
                if (room != null) {
                    return room;
                }
            }
        }
        return null;
    }

    private static Available room(
            List<Path> dirs, String limitFile, String usageFile, String inactiveKey, String name) {
        for (Path dir : dirs) {
            List<String> limitText = lines(dir.resolve(limitFile));
            if (limitText.isEmpty()) {
                continue;
            }
            long limit;
            try {
                limit = limitText.getFirst().strip().equals("max")
                        ? Long.MAX_VALUE
                        : Long.parseLong(limitText.getFirst().strip());
            } catch (NumberFormatException e) {
                continue;
            }
            if (limit >= UNLIMITED) {
                return null;
            }
            long usage = 0;
            List<String> usageText = lines(dir.resolve(usageFile));
            if (!usageText.isEmpty()) {
                try {
                    usage = Long.parseLong(usageText.getFirst().strip());
                } catch (NumberFormatException e) {
                    usage = 0;
                }
            }
            long inactive = 0;
            for (String stat : lines(dir.resolve("memory.stat"))) {
                String[] kv = stat.split("\\s+");
                if (kv.length == 2 && kv[0].equals(inactiveKey)) {
                    try {
                        inactive = Long.parseLong(kv[1]);
                    } catch (NumberFormatException e) {
                        inactive = 0;
                    }
                }
            }
            long inUse = Math.max(0, usage - inactive);
            return new Available(
                    Math.max(0, limit - inUse), name + " " + format(limit) + ", " + format(inUse) + " in use");
        }
        return null;
    }

    private static List<String> lines(Path file) {
        try {
            return Files.readAllLines(file);
        } catch (IOException | RuntimeException e) {
            return List.of();
        }
    }
}
