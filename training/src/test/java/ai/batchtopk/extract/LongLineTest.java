package ai.batchtopk.extract;

import static org.assertj.core.api.Assertions.assertThat;

import ai.batchtopk.io.JsonCodec;
import ai.batchtopk.training.Main;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A 40 MB text that is one single line, extracted from and trained on with {@code --max-tokens} or a few
 * steps, in a child JVM whose heap ({@value #HEAP}) holds the model but not the text read or tokenized
 * whole. Read whole, as before streaming, the child ran out of heap, or aborted inside the tokenizer,
 * after using about 7 GB of native memory; streamed, it reads a few blocks of the file. A child JVM, so
 * that running out of memory fails the test and not the test runner.
 */
class LongLineTest {
    private static final String HEAP = "-Xmx384m";
    private static final long BYTES = 40_000_000;

    @TempDir
    static Path dir;

    private static Path text;

    @BeforeAll
    static void writeOneLineOf40Megabytes() throws IOException {
        String[] words = {
            "the",
            "of",
            "and",
            "to",
            "in",
            "a",
            "is",
            "that",
            "for",
            "it",
            "as",
            "was",
            "with",
            "sparse",
            "autoencoder",
            "features",
            "model",
            "layer",
            "token",
            "activation",
            "residual",
            "stream",
            "latent,"
        };
        Random random = new Random(42);
        text = dir.resolve("one-line.txt");
        long written = 0;
        try (BufferedWriter w = Files.newBufferedWriter(text, StandardCharsets.UTF_8)) {
            while (written < BYTES) {
                String word = words[random.nextInt(words.length)];
                w.write(word);
                w.write(' ');
                written += word.length() + 1;
            }
        }
    }

    private record Child(int code, String output) {}

    private static Child child(String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of(
                ProcessHandle.current().info().command().orElseThrow(),
                HEAP,
                "--enable-native-access=ALL-UNNAMED",
                "-cp",
                System.getProperty("java.class.path")));
        String library = System.getProperty("batchtopk.library");
        if (library != null && !library.isBlank()) {
            command.add("-Dbatchtopk.library=" + library);
        }
        command.add(Main.class.getName());
        command.addAll(List.of(args));
        Path log = Files.createTempFile(dir, "child-", ".log");
        Process process = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .start();
        // Not a measurement: only a guard so that a hung child cannot hang the build.
        if (!process.waitFor(15, TimeUnit.MINUTES)) {
            process.destroyForcibly();
        }
        return new Child(process.waitFor(), Files.readString(log));
    }

    /** The JSON summary: the last line of the output that is a JSON object. */
    @SuppressWarnings("unchecked")
    private static Map<String, Object> summary(String output) {
        List<String> lines = output.lines().filter(l -> l.startsWith("{")).toList();
        assertThat(lines).as(output).isNotEmpty();
        return (Map<String, Object>) JsonCodec.parse(lines.getLast());
    }

    @Test
    void extractWithMaxTokensReadsOnlyWhatItNeeds() throws Exception {
        Path out = dir.resolve("extraction");
        Child c = child(
                "extract", "--layer", "0", "--text", text.toString(), "--out", out.toString(), "--max-tokens", "2000");
        assertThat(c.code()).as(c.output()).isZero();
        assertThat(summary(c.output())).containsEntry("rows", 2000L).containsEntry("documents", 1L);
        assertThat(Files.readAllLines(out.resolve(ExtractCommand.TOKENS)))
                .hasSize(2000)
                .last()
                .asString()
                .startsWith("0\t1999\t");
    }

    @Test
    void trainTextStreamsTheLineIntoTraining() throws Exception {
        Path out = dir.resolve("sae");
        Child c = child(
                "train",
                "--text",
                text.toString(),
                "--layer",
                "0",
                "--d-sae",
                "64",
                "--k",
                "4",
                "--batch-size",
                "32",
                "--steps",
                "3",
                "--threads",
                "1",
                "--out",
                out.toString());
        assertThat(c.code()).as(c.output()).isZero();
        assertThat(summary(c.output())).containsEntry("step", 3L);
    }
}
