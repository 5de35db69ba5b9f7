package ai.batchtopk.training;

import static org.assertj.core.api.Assertions.assertThat;

import ai.batchtopk.Checkpoint;
import ai.batchtopk.SaeLens;
import ai.batchtopk.io.Safetensors;
import ai.batchtopk.io.SafetensorsFile;
import ai.batchtopk.train.EvalLog;
import ai.batchtopk.train.MetricsLog;
import ai.batchtopk.train.RunFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code train --resume} of a run killed after a checkpoint written by the command line before training
 * moved into the library (src/test/resources/legacy-run, see its README.md): it goes on, and ends with
 * the SAE an uninterrupted run of the same options trains now, bit for bit.
 */
class LegacyCheckpointTest {
    /** Where the legacy run read its data; the copies here live elsewhere. */
    private static final String WRITTEN_IN = "/tmp/h-lib-legacy/";

    @TempDir
    Path tmp;

    @Test
    void resumesARunKilledBeforeTheMove() throws IOException, URISyntaxException {
        Path legacy =
                Path.of(LegacyCheckpointTest.class.getResource("/legacy-run").toURI());
        copy(legacy, tmp);
        Path run = tmp.resolve("run");
        String here = tmp.toAbsolutePath() + "/";
        Files.writeString(
                run.resolve(RunFile.FILE),
                Files.readString(run.resolve(RunFile.FILE)).replace(WRITTEN_IN, here));
        assertThat(Files.readAllLines(run.resolve(MetricsLog.FILE))).hasSize(10); // two lines past the checkpoint

        // The data files are copies at another path: the fingerprints say so, the rows are the same.
        Cli.Run resumed = Cli.run("train", "--resume", run, "--allow-changed-data");
        assertThat(resumed.code()).as("%s", resumed).isZero();
        assertThat(resumed.err())
                .contains("the data changed since the checkpoint")
                .contains(here + "train.npy");
        assertThat(resumed.json()).containsEntry("step", 16L);

        List<String> args = new ArrayList<>(RunFile.readArgs(run));
        args.set(args.indexOf("--out") + 1, tmp.resolve("whole").toString());
        args.addFirst("train");
        Cli.Run whole = Cli.run(args.toArray());
        assertThat(whole.code()).as("%s", whole).isZero();

        assertThat(sameTensors(tmp.resolve("whole"), run)).isTrue();
        assertThat(steps(run.resolve(MetricsLog.FILE)))
                .isEqualTo(steps(tmp.resolve("whole").resolve(MetricsLog.FILE)));
        assertThat(Files.readAllLines(run.resolve(EvalLog.FILE)))
                .isEqualTo(Files.readAllLines(tmp.resolve("whole").resolve(EvalLog.FILE)));
    }

    private static List<String> steps(Path metrics) throws IOException {
        return Files.readAllLines(metrics).stream()
                .map(line -> line.replaceAll("\"tokens_per_s\":[^,]*,", ""))
                .toList();
    }

    private static boolean sameTensors(Path a, Path b) throws IOException {
        for (String file : List.of(SaeLens.WEIGHTS_FILE, Checkpoint.STATE_FILE)) {
            try (Arena arena = Arena.ofConfined()) {
                SafetensorsFile x = Safetensors.open(a.resolve(file), arena);
                SafetensorsFile y = Safetensors.open(b.resolve(file), arena);
                assertThat(y.tensors().keySet()).isEqualTo(x.tensors().keySet());
                for (String name : x.tensors().keySet()) {
                    if (x.get(name).data().mismatch(y.get(name).data()) != -1) {
                        return false;
                    }
                }
            }
        }
        return true;
    }

    private static void copy(Path from, Path to) throws IOException {
        try (Stream<Path> files = Files.walk(from)) {
            for (Path file : files.toList()) {
                Path target = to.resolve(from.relativize(file).toString());
                if (Files.isDirectory(file)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(file, target);
                }
            }
        }
    }
}
