package ai.batchtopk.reliability;

import ai.batchtopk.Checkpoint;
import ai.batchtopk.SaeLens;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/**
 * Runs in a child JVM: loads each directory given as a training checkpoint (and as an SAELens
 * directory) and prints {@code DIR<TAB>ok<TAB>STEP}, {@code DIR<TAB>none} (no checkpoint there, nor in
 * the {@code .incoming}/{@code .previous} siblings of a save that was cut short) or
 * {@code DIR<TAB>error<TAB>MESSAGE}, one line per directory, flushed before the next is tried.
 */
public final class CheckpointProbe {
    private CheckpointProbe() {}

    public static void main(String[] args) {
        for (String arg : args) {
            Path dir = Path.of(arg);
            String result;
            if (Stream.of("", ".incoming", ".previous")
                    .noneMatch(suffix -> Files.exists(
                            dir.resolveSibling(dir.getFileName() + suffix).resolve(Checkpoint.STATE_FILE)))) {
                result = "none";
            } else {
                try (Checkpoint.Loaded loaded = Checkpoint.resume(dir)) {
                    SaeLens.load(dir).close();
                    result = "ok\t" + loaded.extra().get("batchtopk.run.steps");
                } catch (Exception e) {
                    result = "error\t" + e.getClass().getSimpleName() + ": "
                            + String.valueOf(e.getMessage()).replace('\n', ' ');
                }
            }
            System.out.println(dir + "\t" + result);
            System.out.flush();
        }
    }
}
