package ai.batchtopk.report;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.batchtopk.training.Main;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** report.html of a small synthetic run (d = 32, 100 steps), through the command line and the API. */
class ReportTest {
    @TempDir
    static Path shared;

    /** synth output: activations.npy, plus a fake tokens.tsv and documents.tsv. */
    static Path toy;
    /** The trained run: SAELens directory and metrics.jsonl. */
    static Path run;

    @TempDir
    Path tmp;

    record Result(int code, String out, String err) {}

    static Result cli(Object... args) {
        String[] text = Stream.of(args).map(String::valueOf).toArray(String[]::new);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Main.run(
                new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8),
                text);
        return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @BeforeAll
    static void trainedRun() throws IOException {
        toy = shared.resolve("toy");
        Result synth = cli("synth", "--out", toy, "--d-in", 32, "--features", 48, "--tokens", 4096, "--seed", 3);
        assertThat(synth.code()).as("%s", synth).isZero();
        run = shared.resolve("run");
        Result train = cli(
                "train",
                "--data",
                toy.resolve("activations.npy"),
                "--d-sae",
                64,
                "--k",
                4,
                "--batch-size",
                64,
                "--steps",
                100,
                "--out",
                run);
        assertThat(train.code()).as("%s", train).isZero();
        // One token per activation row, 32 rows per document; the words need HTML and TSV escaping.
        String[] words = {
            "the", "<script>alert(1)</script>", "a&b", "tab\\there", "line\\nbreak", "back\\\\slash", "\"q\"", " ok"
        };
        List<String> lines = new ArrayList<>();
        for (int row = 0; row < 4096; row++) {
            lines.add((row / 32) + "\t" + (row % 32) + "\t" + words[(row * 7 + row / 5) % words.length]);
        }
        Files.write(toy.resolve("tokens.tsv"), lines, StandardCharsets.UTF_8);
        List<String> docs = new ArrayList<>();
        for (int doc = 0; doc < 128; doc++) {
            docs.add(doc + "\tcorpus/<file" + doc + ">.txt\tfirst chars");
        }
        Files.write(toy.resolve("documents.tsv"), docs, StandardCharsets.UTF_8);
    }

    /** A copy of the run, so that each test writes its own report and eval.jsonl. */
    Path copyOfRun() throws IOException {
        Path copy = tmp.resolve("run");
        Files.createDirectories(copy);
        try (Stream<Path> files = Files.list(run)) {
            for (Path f : files.toList()) {
                if (Files.isRegularFile(f)) {
                    Files.copy(f, copy.resolve(f.getFileName()));
                }
            }
        }
        return copy;
    }

    static int count(String text, String regex) {
        Matcher m = Pattern.compile(regex).matcher(text);
        int n = 0;
        while (m.find()) {
            n++;
        }
        return n;
    }

    @Test
    void commandWritesChartsHistogramsAndEscapedContexts() throws IOException {
        Path dir = copyOfRun();
        Result r = cli("report", "--run", dir, "--data", toy, "--latents", 6, "--sample-tokens", 2048);
        assertThat(r.code()).as("%s", r).isZero();
        Path file = dir.resolve("report.html");
        assertThat(r.out().strip()).isEqualTo(file.toAbsolutePath().normalize().toString());
        String html = Files.readString(file);
        assertThat(html).startsWith("<!DOCTYPE html>").contains("</html>");
        // Line charts over training.
        assertThat(count(html, "<svg class=\"chart\"")).isGreaterThanOrEqualTo(8);
        assertThat(html)
                .contains(
                        "aria-label=\"Loss\"",
                        "NMSE (fraction of variance unexplained)",
                        "L0 (active latents per token)",
                        "Dead latents (fraction of d_sae)",
                        "theta (inference threshold)");
        assertThat(count(html, "<path fill=\"none\" stroke=")).isGreaterThanOrEqualTo(5);
        // The two histograms, over the 2048 sampled rows.
        assertThat(html).contains("Per-token L0 (2,048 tokens)", "Latent firing density (64 latents)", ">dead</text>");
        assertThat(count(html, "<rect class=\"bar\"")).isGreaterThan(2);
        // Six latents in context, with the text escaped and the TSV escapes undone.
        assertThat(count(html, "<section class=\"latent\">")).isEqualTo(6);
        assertThat(count(html, "class=\"tok hit\"")).isBetween(6, 48);
        assertThat(html)
                .contains(
                        "&lt;script&gt;alert(1)&lt;/script&gt;",
                        "a&amp;b",
                        "tab⇥here",
                        "line↵break",
                        "back\\slash",
                        "&quot;q&quot;",
                        "corpus/&lt;file");
        assertThat(html).doesNotContain("<script", "tab\\there", "<link", "src=", "@import", "url(");
        // Configuration from cfg.json.
        assertThat(html).contains(">batchtopk<", ">d_sae<", ">dataset_path<");
    }

    @Test
    void apiWithDefaultsUsesTheDatasetPathAndDrawsEvalCurves() throws IOException {
        Path dir = copyOfRun();
        Files.writeString(dir.resolve("eval.jsonl"), """
                {"step":50,"nmse":0.5,"explained_variance":0.5,"l0":4.2,"dead_fraction":0.1}
                {"step":100,"nmse":0.4,"explained_variance":0.6,"l0":4.1,"dead_fraction":0.05}
                """);
        Path file = Report.write(dir, ReportInputs.defaults().withSampleTokens(1000));
        assertThat(file).isEqualTo(dir.resolve("report.html"));
        String html = Files.readString(file);
        // No --data: dataset_path names the synth file, and the tokens.tsv beside it is found (24 latents by default).
        assertThat(html).contains("Per-token L0 (1,000 tokens)", "Explained variance (eval)", "2 evaluations (dashed)");
        assertThat(count(html, "stroke-dasharray=\"5 3\" d=")).isGreaterThanOrEqualTo(4);
        assertThat(count(html, "<section class=\"latent\">")).isEqualTo(24);
        // Nothing left behind but the report.
        try (Stream<Path> files = Files.list(dir)) {
            assertThat(files.map(p -> p.getFileName().toString())).noneMatch(n -> n.contains(".tmp"));
        }
    }

    @Test
    void withoutDataThereAreOnlyCurves() throws IOException {
        Path dir = copyOfRun();
        // A cfg.json whose dataset_path is gone.
        Path cfg = dir.resolve("cfg.json");
        Files.writeString(
                cfg,
                Files.readString(cfg)
                        .replace(
                                toy.resolve("activations.npy").toAbsolutePath().toString(),
                                "/nonexistent/activations.npy"));
        String html = Files.readString(Report.write(dir, ReportInputs.defaults()));
        assertThat(html)
                .contains("aria-label=\"Loss\"", "No activation data was given")
                .doesNotContain("Per-token L0");
    }

    @Test
    void missingMetricsIsAClearError() throws IOException {
        Path dir = copyOfRun();
        Files.delete(dir.resolve("metrics.jsonl"));
        Result r = cli("report", "--run", dir, "--data", toy);
        assertThat(r.code()).as("%s", r).isEqualTo(1);
        assertThat(r.err()).startsWith("error: no training log ").contains("metrics.jsonl", "batchtopk train");
        assertThat(dir.resolve("report.html")).doesNotExist();
        assertThatThrownBy(() -> Report.write(dir, ReportInputs.defaults()))
                .isInstanceOf(ReportException.class)
                .hasMessageContaining("metrics.jsonl");
    }

    @Test
    void widthMismatchIsAClearError() throws IOException {
        Path other = tmp.resolve("other");
        assertThat(cli("synth", "--out", other, "--d-in", 16, "--features", 20, "--tokens", 256)
                        .code())
                .isZero();
        Path dir = copyOfRun();
        Result r = cli("report", "--run", dir, "--data", other.resolve("activations.npy"));
        assertThat(r.code()).as("%s", r).isEqualTo(1);
        assertThat(r.err())
                .startsWith("error: ")
                .contains("width d = 16", "d_in = 32")
                .doesNotContain("\tat ");
        assertThat(dir.resolve("report.html")).doesNotExist();
    }

    @Test
    void tooShortTokenTableIsAClearError() throws IOException {
        Path dir = copyOfRun();
        Path tokens = tmp.resolve("tokens.tsv");
        Files.writeString(tokens, "0\t0\thello\n0\t1\tworld\n");
        Result r = cli("report", "--run", dir, "--data", toy.resolve("activations.npy"), "--tokens", tokens);
        assertThat(r.code()).as("%s", r).isEqualTo(1);
        assertThat(r.err()).contains("has 2 lines but the sample has 4096 activation rows");
    }

    @Test
    void badOptionsAreUsageErrors() {
        assertThat(cli("report", "--run", run, "--sample-tokens", 0).code()).isEqualTo(2);
        assertThat(cli("report").code()).isEqualTo(2);
    }

    @Test
    void helpers() {
        assertThat(TokenContexts.unescape("a\\tb\\nc\\\\d")).isEqualTo("a\tb\nc\\d");
        assertThat(Html.escape("<a href='x'>&\"</a>")).isEqualTo("&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
        assertThat(LineChart.Axis.linear(0, 76800).ticks()).containsExactly(0, 20000, 40000, 60000, 80000);
        assertThat(LineChart.Axis.log(0.3, 0.9).ticks()).containsExactly(0.2, 0.5, 1.0);
        assertThat(LineChart.Axis.format(20000)).isEqualTo("20k");
        assertThat(LineChart.Axis.format(0.0001)).isEqualTo("1e-4");
        // Live latents only, spread over the frequencies, most frequent first, the same for a seed.
        long[] fires = {0, 50, 40, 30, 20, 10, 0, 5};
        int[] picked = TokenContexts.pick(fires, 3, 1);
        assertThat(picked).hasSize(3).doesNotContain(0, 6).isEqualTo(TokenContexts.pick(fires, 3, 1));
        assertThat(fires[picked[0]]).isGreaterThan(fires[picked[1]]);
        assertThat(TokenContexts.pick(fires, 10, 1)).hasSize(6);
    }
}
