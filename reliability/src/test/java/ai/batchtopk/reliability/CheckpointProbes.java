package ai.batchtopk.reliability;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Loads checkpoint directories in child JVMs ({@link CheckpointProbe}): all in one child, and when a
 * directory takes the child down, that directory is a crash and a new child goes on with the rest.
 */
final class CheckpointProbes {
    private CheckpointProbes() {}

    /** For each directory: {@code ok<TAB>STEP}, {@code none}, {@code error<TAB>...} or {@code crash: ...}. */
    static Map<Path, String> probe(Path work, List<Path> dirs) {
        Map<Path, String> results = new LinkedHashMap<>();
        List<Path> left = new ArrayList<>(dirs);
        for (int attempt = 0; !left.isEmpty(); attempt++) {
            ChildRun run = ChildJvm.driver(CheckpointProbe.class, work.resolve("probe-" + attempt))
                    .run(left.toArray());
            for (String line : run.out().lines().toList()) {
                int tab = line.indexOf('\t');
                if (tab > 0) {
                    Path dir = Path.of(line.substring(0, tab));
                    results.put(dir, line.substring(tab + 1));
                    left.remove(dir);
                }
            }
            if (!left.isEmpty()) {
                String why = run.crash() != null ? run.crash() : "the probe stopped (exit " + run.exit() + ")";
                results.put(left.removeFirst(), "crash: " + why + ": " + ErrorReport.excerpt(run.err()));
            }
        }
        return results;
    }
}
