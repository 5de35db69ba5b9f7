package ai.batchtopk.reliability;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * How much of a file a running process has read through its memory mapping (its resident pages, from
 * Linux's {@code /proc/PID/smaps}): how a case knows that a child is reading a file before it cuts the
 * file short.
 */
final class MappedResidency {
    private MappedResidency() {}

    private static final Pattern MAPPING = Pattern.compile("^[0-9a-f]+-[0-9a-f]+ .*");

    /**
     * Resident bytes of {@code file}'s mappings in process {@code pid}; 0 when the process has the file
     * open or mapped with nothing read yet; -1 when it has neither (or there is no /proc).
     */
    static long of(long pid, Path file) {
        List<String> lines;
        try {
            lines = Files.readAllLines(Path.of("/proc", Long.toString(pid), "smaps"));
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        String suffix = " " + file.toAbsolutePath();
        long kilobytes = 0;
        boolean mapped = false;
        boolean inFile = false;
        for (String line : lines) {
            if (MAPPING.matcher(line).matches()) {
                inFile = line.endsWith(suffix);
                mapped |= inFile;
            } else if (inFile && line.startsWith("Rss:")) {
                kilobytes += Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        return mapped ? kilobytes * 1024 : isOpen(pid, file) ? 0 : -1;
    }

    private static boolean isOpen(long pid, Path file) {
        try (Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            return fds.anyMatch(fd -> {
                try {
                    return Files.readSymbolicLink(fd).equals(file.toAbsolutePath());
                } catch (IOException | RuntimeException e) {
                    return false;
                }
            });
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }
}
