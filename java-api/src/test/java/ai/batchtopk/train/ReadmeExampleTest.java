package ai.batchtopk.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.batchtopk.Architecture;
import ai.batchtopk.SaeConfig;
import ai.batchtopk.SaeLens;
import ai.batchtopk.data.ActivationFiles;
import ai.batchtopk.data.RowOrder;
import ai.batchtopk.io.DType;
import ai.batchtopk.io.Npy;
import ai.batchtopk.io.Safetensors;
import ai.batchtopk.io.SafetensorsFile;
import ai.batchtopk.io.Tensor;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The README's Java example, verbatim between the markers (a test below fails when the README's block
 * differs): a whole run from files, then a crash and the resume with one call, from the library alone.
 */
class ReadmeExampleTest {
    @TempDir
    Path tmp;

    // spotless:off
    // README example begins
    static RunResult train(Path data, Path heldOut, Path out, long d) throws IOException {
        SaeConfig sae = SaeConfig.builder(d, 16 * d).architecture(Architecture.BATCHTOPK).k(8).build();
        RunSpec spec = RunSpec.builder(new ActivationFiles(List.of(data), RowOrder.SHUFFLED), out)
                .sae(sae)
                .batchSize(1024).steps(200)
                .lrSchedule(LrSchedule.Shape.cosine(20, 0.1))  // 20 warm-up steps, then cosine decay to lr / 10
                .prefetch(2)                                    // batches prepared ahead by a background thread
                .evalData(List.of(heldOut)).evalEvery(50)       // held-out NMSE, explained variance, L0: eval.jsonl
                .checkpointEvery(50)                            // the whole training state, replaced atomically
                .onProgress(p -> System.out.printf("step %d/%d loss %.4f%n", p.step(), p.steps(), p.metrics().loss()))
                .build();
        try (TrainingRun run = TrainingRun.start(spec)) {
            return run.train();                                 // out/: SAELens directory, metrics.jsonl, run.json
        }
    }

    // After a crash or a kill: the same run from its last checkpoint, ending with the same SAE bit for bit.
    static RunResult resume(Path out) throws IOException {
        try (TrainingRun run = TrainingRun.resume(out)) {
            return run.train();
        }
    }
    // README example ends
    // spotless:on

    private static final long D = 8;

    @Test
    void theReadmeShowsThisCode() throws IOException {
        String source = Files.readString(Path.of("src/test/java/ai/batchtopk/train/ReadmeExampleTest.java"));
        String begin = "    // README example begins\n";
        String example = source.substring(
                        source.indexOf(begin) + begin.length(), source.indexOf("    // README example ends\n"))
                .lines()
                .map(line -> line.startsWith("    ") ? line.substring(4) : line)
                .collect(java.util.stream.Collectors.joining("\n", "", "\n"));
        String readme = Files.readString(Path.of("../README.md"));
        Matcher blocks = Pattern.compile("```java\n(.*?)```", Pattern.DOTALL).matcher(readme);
        boolean found = false;
        while (blocks.find()) {
            found |= blocks.group(1).equals(example);
        }
        assertThat(found)
                .as("README.md has a ```java block equal to this test's example:\n%s", example)
                .isTrue();
    }

    @Test
    void trainsEvaluatesCheckpointsAndResumesAfterACrash() throws IOException {
        Path data = tmp.resolve("activations.npy");
        Path heldOut = tmp.resolve("held-out.npy");
        writeGaussian(data, 4096, 1);
        writeGaussian(heldOut, 512, 2);

        RunResult whole = train(data, heldOut, tmp.resolve("whole"), D);
        assertThat(whole.last().step()).isEqualTo(200);
        assertThat(whole.tokens()).isEqualTo(200 * 1024);
        assertThat(Files.readAllLines(tmp.resolve("whole/eval.jsonl"))).hasSize(4); // steps 50, 100, 150, 200
        assertThat(Files.readAllLines(tmp.resolve("whole/metrics.jsonl"))).hasSize(200);
        assertThat(SaeLens.config(tmp.resolve("whole")).k()).isEqualTo(8);

        // A crash at step 120: the progress callback's printing fails, the run stops without saving.
        Path crashed = tmp.resolve("crashed");
        PrintStream stdout = System.out;
        System.setOut(new PrintStream(new FailingAt("step 120/"), true, StandardCharsets.UTF_8));
        try {
            assertThatThrownBy(() -> train(data, heldOut, crashed, D)).hasMessageContaining("crash");
        } finally {
            System.setOut(stdout);
        }
        assertThat(Files.readAllLines(crashed.resolve("metrics.jsonl"))).hasSize(120);

        RunResult resumed = resume(crashed);
        assertThat(resumed.last().step()).isEqualTo(200);
        assertThat(resumed.tokensThisRun()).isEqualTo(100 * 1024); // from the checkpoint of step 100
        assertThat(sameTensors(tmp.resolve("whole"), crashed)).isTrue();
        assertThat(withoutSpeed(crashed.resolve("metrics.jsonl")))
                .isEqualTo(withoutSpeed(tmp.resolve("whole/metrics.jsonl")));
        assertThat(Files.readAllLines(crashed.resolve("eval.jsonl")))
                .isEqualTo(Files.readAllLines(tmp.resolve("whole/eval.jsonl")));

        assertThatThrownBy(() -> resume(crashed))
                .isInstanceOf(TrainingException.class)
                .hasMessageContaining("already complete");
    }

    @Test
    void aRunStartedByTheCommandLineIsNotMistakenForOne() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("cli-run"));
        Files.writeString(
                dir.resolve(RunFile.FILE), "{\"command\": \"train\", \"id\": \"x\", \"args\": [\"--steps\", \"3\"]}");
        assertThatThrownBy(() -> TrainingRun.resume(dir))
                .isInstanceOf(TrainingException.class)
                .hasMessageContaining("holds no run specification")
                .hasMessageContaining("train --resume");
    }

    /** Every tensor of the SAE's weights and training state, byte for byte. */
    private static boolean sameTensors(Path a, Path b) throws IOException {
        for (String file : List.of(SaeLens.WEIGHTS_FILE, ai.batchtopk.Checkpoint.STATE_FILE)) {
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

    private static List<String> withoutSpeed(Path metrics) throws IOException {
        return Files.readAllLines(metrics).stream()
                .map(line -> line.replaceAll("\"tokens_per_s\":[^,]*,", ""))
                .toList();
    }

    private static void writeGaussian(Path file, int rows, long seed) throws IOException {
        Random random = new Random(seed);
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = Tensor.allocate(DType.F32, new long[] {rows, D}, arena);
            for (long i = 0; i < rows * D; i++) {
                t.data().setAtIndex(Tensor.F32_LE, i, (float) random.nextGaussian());
            }
            Npy.write(file, t);
        }
    }

    /** Standard output that fails (a crash of the run) once a line containing {@code marker} is printed. */
    private static final class FailingAt extends OutputStream {
        private final String marker;
        private final StringBuilder line = new StringBuilder();

        FailingAt(String marker) {
            this.marker = marker;
        }

        @Override
        public void write(int b) {
            line.append((char) b);
            if (line.indexOf(marker) >= 0) {
                throw new IllegalStateException("crash at " + marker);
            }
            if (b == '\n') {
                line.setLength(0);
            }
        }
    }
}
