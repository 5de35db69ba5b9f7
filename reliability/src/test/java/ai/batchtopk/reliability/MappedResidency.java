package ai.batchtopk.reliability;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;

/**
 * How much of a memory-mapped file a running process has touched (its resident pages, from Linux's
 * {@code /proc/PID/smaps}): how a case knows that a child is reading a file before it cuts the file short.
 */
final class MappedResidency {
    private MappedResidency() {}

    private static final Pattern MAPPING = Pattern.compile("^[0-9a-f]+-[0-9a-f]+ .*");

    /** Resident bytes of {@code file}'s mappings in process {@code pid}; 0 when none (or no /proc). */
    static long of(long pid, Path file) {
        List<String> lines;
        try {
            lines = Files.readAllLines(Path.of("/proc", Long.toString(pid), "smaps"));
        } catch (IOException | RuntimeException e) {
            return 0;
        }
        String suffix = " " + file.toAbsolutePath();
        long kilobytes = 0;
        boolean inFile = false;
        for (String line : lines) {
            if (MAPPING.matcher(line).matches()) {
                inFile = line.endsWith(suffix);
            } else if (inFile && line.startsWith("Rss:")) {
                kilobytes += Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        return kilobytes * 1024;
    }
}
