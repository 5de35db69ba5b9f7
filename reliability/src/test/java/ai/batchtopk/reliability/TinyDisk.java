package ai.batchtopk.reliability;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/** A small tmpfs mounted for one case, to fill up for real (needs root; {@link #mount} says when it cannot). */
final class TinyDisk implements AutoCloseable {
    private final Path dir;

    private TinyDisk(Path dir) {
        this.dir = dir;
    }

    /** The mounted disk, or null when this machine does not let us mount one (not root). */
    static TinyDisk mount(Path dir, int kilobytes) throws IOException, InterruptedException {
        Files.createDirectories(dir);
        Process mount = new ProcessBuilder(
                        "mount", "-t", "tmpfs", "-o", "size=" + kilobytes + "k", "tmpfs", dir.toString())
                .redirectErrorStream(true)
                .start();
        boolean ok = mount.waitFor(10, TimeUnit.SECONDS) && mount.exitValue() == 0;
        return ok ? new TinyDisk(dir) : null;
    }

    /** Unmounts what an interrupted earlier run may have left mounted under {@code dir}. */
    static void unmountAllUnder(Path dir) throws IOException, InterruptedException {
        String prefix = dir.toAbsolutePath() + "/";
        for (String line : Files.readAllLines(Path.of("/proc/mounts"))) {
            String[] fields = line.split(" ");
            if (fields.length > 1 && fields[1].startsWith(prefix)) {
                new ProcessBuilder("umount", fields[1]).start().waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    Path path() {
        return dir;
    }

    @Override
    public void close() throws IOException {
        try {
            new ProcessBuilder("umount", dir.toString()).start().waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
