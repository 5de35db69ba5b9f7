package ai.batchtopk.training;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.batchtopk.Sae;
import ai.batchtopk.SaeLens;
import ai.batchtopk.Selection;
import ai.batchtopk.io.Npy;
import ai.batchtopk.io.Tensor;
import ai.batchtopk.train.RunFile;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.xml.parsers.DocumentBuilderFactory;
import org.assertj.core.data.Percentage;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/** {@code train --sweep arch=...}: the paper's grid in one pass; {@code compare}: its page and figures. */
class CompareCommandTest {
    @TempDir
    static Path shared;

    static Path train;
    static Path held;

    @TempDir
    Path tmp;

    @BeforeAll
    static void data() {
        Cli.Run synth = Cli.run(
                "synth", "--out", shared.resolve("toy"), "--d-in", 16, "--features", 24, "--tokens", 3000, "--seed", 5);
        assertThat(synth.code()).as("%s", synth).isZero();
        train = shared.resolve("toy").resolve(SynthCommand.ACTIVATIONS);
        Cli.Run heldOut = Cli.run(
                "synth", "--out", shared.resolve("held"), "--d-in", 16, "--features", 24, "--tokens", 700, "--seed", 6);
        assertThat(heldOut.code()).as("%s", heldOut).isZero();
        held = shared.resolve("held").resolve(SynthCommand.ACTIVATIONS);
    }

    /** The options every training run of these tests shares. */
    private static Object[] common() {
        return new Object[] {
            "--data",
            train,
            "--d-sae",
            32,
            "--batch-size",
            64,
            "--steps",
            40,
            "--seed",
            3,
            "--lr",
            1e-3,
            "--eval-data",
            held
        };
    }

    private static Object[] args(Object[] head, Object... tail) {
        Object[] common = common();
        Object[] all = new Object[head.length + common.length + tail.length];
        System.arraycopy(head, 0, all, 0, head.length);
        System.arraycopy(common, 0, all, head.length, common.length);
        System.arraycopy(tail, 0, all, head.length + common.length, tail.length);
        return all;
    }

    @Test
    void anArchitectureSweepTrainsEachSaeAsItsOwnRunWould() throws IOException {
        Path sweep = tmp.resolve("sweep");
        Cli.Run run = Cli.run(args(new Object[] {
            "train",
            "--sweep",
            "arch=batchtopk,topk,jumprelu",
            "--sweep",
            "k=2,4",
            "--sweep",
            "l0-coeff=0.001,0.01",
            "--out",
            sweep
        }));
        assertThat(run.code()).as("%s", run).isZero();
        assertThat((List<?>) run.json().get("saes")).hasSize(6);
        assertThat(children(sweep))
                .containsExactly(
                        "batchtopk-dsae32-k2",
                        "batchtopk-dsae32-k4",
                        "jumprelu-dsae32-l0c0.001",
                        "jumprelu-dsae32-l0c0.01",
                        RunFile.FILE,
                        "topk-dsae32-k2",
                        "topk-dsae32-k4");
        assertThat(SaeLens.config(sweep.resolve("jumprelu-dsae32-l0c0.01")).l0Coeff())
                .isEqualTo(0.01);

        Path topK = tmp.resolve("topk");
        Cli.Run one = Cli.run(args(new Object[] {"train", "--arch", "topk", "--k", 4, "--out", topK}));
        assertThat(one.code()).as("%s", one).isZero();
        TrainingRunTest.assertSameState(sweep.resolve("topk-dsae32-k4"), topK);
        Path jumpRelu = tmp.resolve("jumprelu");
        Cli.Run other =
                Cli.run(args(new Object[] {"train", "--arch", "jumprelu", "--l0-coeff", 0.01, "--out", jumpRelu}));
        assertThat(other.code()).as("%s", other).isZero();
        TrainingRunTest.assertSameState(sweep.resolve("jumprelu-dsae32-l0c0.01"), jumpRelu);
    }

    @Test
    void comparePlotsOneLinePerArchitectureAndTabulatesTheHeldOutFigures() throws Exception {
        Path sweep = tmp.resolve("sweep");
        Cli.Run run = Cli.run(args(new Object[] {
            "train",
            "--sweep",
            "arch=batchtopk,topk,jumprelu",
            "--sweep",
            "k=2,4",
            "--sweep",
            "l0-coeff=0.001,0.1",
            "--out",
            sweep
        }));
        assertThat(run.code()).as("%s", run).isZero();

        Cli.Run compare = Cli.run("compare", sweep, "--eval-data", held);
        assertThat(compare.code()).as("%s", compare).isZero();
        Path page = sweep.resolve("compare.html");
        assertThat(compare.json().get("out"))
                .isEqualTo(page.toAbsolutePath().normalize().toString());
        String html = Files.readString(page);
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> saes =
                (List<Map<String, Object>>) compare.json().get("saes");
        assertThat(saes).hasSize(6);

        // Every figure, computed here from the SAE and the held-out rows without the library's Evaluator.
        Map<String, List<String>> rows = tableRows(html);
        for (Map<String, Object> sae : saes) {
            String name = (String) sae.get("name");
            double[] expected = heldOutFigures(sweep.resolve(name), held);
            assertThat((Double) sae.get("nmse")).as(name).isCloseTo(expected[0], within(1e-5));
            assertThat((Double) sae.get("l0")).as(name).isCloseTo(expected[1], within(1e-9));
            assertThat((Double) sae.get("dead_fraction")).as(name).isCloseTo(expected[2], within(1e-12));
            // The table: SAE, architecture, d_sae, k, l0_coeff, l1_coeff, L0, NMSE, explained variance, dead...
            List<String> cells = rows.get(name);
            assertThat(cells).as(name).isNotNull();
            assertThat(cells.get(1)).isEqualTo(name.substring(0, name.indexOf('-')));
            assertThat(Double.parseDouble(cells.get(6)))
                    .as(name)
                    .isCloseTo(expected[1], Percentage.withPercentage(0.06));
            assertThat(Double.parseDouble(cells.get(7)))
                    .as(name)
                    .isCloseTo(expected[0], Percentage.withPercentage(0.06));
            assertThat(Double.parseDouble(cells.get(9))).as(name).isCloseTo(expected[2], within(5e-4));
        }
        assertThat(rows.get("topk-dsae32-k4").get(3)).isEqualTo("4");
        assertThat(rows.get("jumprelu-dsae32-l0c0.1").get(3)).isEqualTo("–");
        assertThat(rows.get("jumprelu-dsae32-l0c0.1").get(4)).isEqualTo("0.1");

        // The charts are well-formed SVG; the NMSE chart has one line per architecture through its SAEs.
        Map<String, Element> charts = charts(html);
        assertThat(charts)
                .containsKeys("Held-out NMSE vs L0", "Dead fraction (held out) vs L0")
                .doesNotContainKey("Downstream score vs L0");
        Element nmse = charts.get("Held-out NMSE vs L0");
        NodeList paths = nmse.getElementsByTagName("path");
        assertThat(paths.getLength()).isEqualTo(3);
        for (int i = 0; i < paths.getLength(); i++) {
            String d = ((Element) paths.item(i)).getAttribute("d");
            assertThat(d.split("[ML]").length - 1).as(d).isEqualTo(2);
        }
        assertThat(nmse.getElementsByTagName("circle").getLength()).isEqualTo(6);
        List<String> texts = new ArrayList<>();
        NodeList textNodes = nmse.getElementsByTagName("text");
        for (int i = 0; i < textNodes.getLength(); i++) {
            texts.add(textNodes.item(i).getTextContent());
        }
        assertThat(texts).contains("batchtopk", "topk", "jumprelu");
        // The same-k table pairs BatchTopK and TopK.
        assertThat(html).contains("Same d_sae and k");

        // Without --eval-data, the last eval.jsonl line of each SAE: the same rows, the same figures.
        Cli.Run fromLogs = Cli.run("compare", sweep);
        assertThat(fromLogs.code()).as("%s", fromLogs).isZero();
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> logged =
                (List<Map<String, Object>>) fromLogs.json().get("saes");
        for (int i = 0; i < saes.size(); i++) {
            assertThat(logged.get(i).get("nmse")).isEqualTo(saes.get(i).get("nmse"));
            assertThat(logged.get(i).get("l0")).isEqualTo(saes.get(i).get("l0"));
        }
    }

    @Test
    void nonsenseGridsAndRunsAreClearErrors() throws IOException {
        Path out = tmp.resolve("bad");
        Cli.Run unknown =
                Cli.run(args(new Object[] {"train", "--sweep", "arch=batchtopk,gated", "--k", 2, "--out", out}));
        assertThat(unknown.code()).as("%s", unknown).isEqualTo(Main.USAGE);
        assertThat(unknown.err())
                .contains("--sweep arch=batchtopk,gated")
                .contains("unknown architecture 'gated'")
                .contains("batchtopk, topk, jumprelu, relu");

        Cli.Run kForJumpRelu =
                Cli.run(args(new Object[] {"train", "--arch", "jumprelu", "--sweep", "k=2,4", "--out", out}));
        assertThat(kForJumpRelu.code()).as("%s", kForJumpRelu).isEqualTo(Main.USAGE);
        assertThat(kForJumpRelu.err())
                .contains("--sweep k=...: k applies to batchtopk, topk, matryoshka-batchtopk only")
                .contains("the run trains jumprelu");

        Cli.Run l0ForTopK = Cli.run(args(new Object[] {
            "train", "--sweep", "arch=batchtopk,topk", "--k", 2, "--sweep", "l0-coeff=0.1", "--out", out
        }));
        assertThat(l0ForTopK.code()).as("%s", l0ForTopK).isEqualTo(Main.USAGE);
        assertThat(l0ForTopK.err()).contains("l0-coeff applies to jumprelu only");

        Cli.Run l1Alone = Cli.run(args(new Object[] {"train", "--k", 2, "--l1-coeff", 0.1, "--out", out}));
        assertThat(l1Alone.code()).as("%s", l1Alone).isEqualTo(Main.USAGE);
        assertThat(l1Alone.err()).contains("--l1-coeff: l1-coeff applies to relu only");

        Cli.Run twice = Cli.run(
                args(new Object[] {"train", "--arch", "topk", "--sweep", "arch=batchtopk", "--k", 2, "--out", out}));
        assertThat(twice.code()).as("%s", twice).isEqualTo(Main.USAGE);
        assertThat(twice.err()).contains("--arch topk and --sweep arch=... both name the architecture");

        Cli.Run noK = Cli.run(args(new Object[] {"train", "--sweep", "arch=jumprelu,topk", "--out", out}));
        assertThat(noK.code()).as("%s", noK).isEqualTo(Main.USAGE);
        assertThat(noK.err()).contains("--k is required for --arch topk");

        Cli.Run badKey = Cli.run(args(new Object[] {"train", "--sweep", "lr=1,2", "--k", 2, "--out", out}));
        assertThat(badKey.code()).as("%s", badKey).isEqualTo(Main.USAGE);
        assertThat(badKey.err()).contains("NAME one of arch, k, d-sae, l0-coeff, l1-coeff");
        assertThat(out).doesNotExist();

        Files.createDirectories(tmp.resolve("empty"));
        Cli.Run empty = Cli.run("compare", tmp.resolve("empty"));
        assertThat(empty.code()).as("%s", empty).isEqualTo(Main.FAILURE);
        assertThat(empty.err()).contains("holds no SAE");

        Path unevaluated = tmp.resolve("unevaluated");
        Cli.Run trained = Cli.run(
                "train",
                "--data",
                train,
                "--d-sae",
                32,
                "--sweep",
                "arch=topk,relu",
                "--k",
                2,
                "--batch-size",
                64,
                "--steps",
                3,
                "--out",
                unevaluated);
        assertThat(trained.code()).as("%s", trained).isZero();
        assertThat(children(unevaluated)).containsExactly("relu-dsae32", RunFile.FILE, "topk-dsae32-k2");
        Cli.Run noHeldOut = Cli.run("compare", unevaluated);
        assertThat(noHeldOut.code()).as("%s", noHeldOut).isEqualTo(Main.FAILURE);
        assertThat(noHeldOut.err())
                .contains("no held-out evaluation (eval.jsonl) for relu-dsae32, topk-dsae32-k2")
                .contains("give --eval-data");
        Path wide = tmp.resolve("wide");
        assertThat(Cli.run("synth", "--out", wide, "--d-in", 8, "--features", 10, "--tokens", 100)
                        .code())
                .isZero();
        Cli.Run wrongWidth = Cli.run("compare", unevaluated, "--eval-data", wide.resolve(SynthCommand.ACTIVATIONS));
        assertThat(wrongWidth.code()).as("%s", wrongWidth).isEqualTo(Main.FAILURE);
        assertThat(wrongWidth.err()).contains("width d = 8").contains("d_in = 16");
    }

    /** {nmse, l0, dead fraction} of the SAE on every row of the file, inference rule, sums in double. */
    static double[] heldOutFigures(Path saeDir, Path data) throws IOException {
        try (Arena arena = Arena.ofConfined();
                Sae sae = SaeLens.load(saeDir)) {
            Tensor x = Npy.map(data, arena);
            long n = x.dim(0);
            int d = (int) x.dim(1);
            int f = (int) sae.dSae();
            MemorySegment recon = arena.allocate(n * d * 4, 64);
            MemorySegment codes = arena.allocate(n * f * 4, 64);
            sae.reconstruct(x, Selection.INFERENCE, recon);
            sae.encode(x, Selection.INFERENCE, codes);
            double[] mean = new double[d];
            for (long i = 0; i < n * d; i++) {
                mean[(int) (i % d)] += x.data().getAtIndex(ValueLayout.JAVA_FLOAT, i) / n;
            }
            double error = 0;
            double variance = 0;
            for (long i = 0; i < n * d; i++) {
                double v = x.data().getAtIndex(ValueLayout.JAVA_FLOAT, i);
                double r = recon.getAtIndex(ValueLayout.JAVA_FLOAT, i);
                error += (v - r) * (v - r);
                variance += (v - mean[(int) (i % d)]) * (v - mean[(int) (i % d)]);
            }
            long active = 0;
            boolean[] fired = new boolean[f];
            for (long i = 0; i < n * f; i++) {
                if (codes.getAtIndex(ValueLayout.JAVA_FLOAT, i) != 0) {
                    active++;
                    fired[(int) (i % f)] = true;
                }
            }
            long dead = 0;
            for (boolean b : fired) {
                if (!b) dead++;
            }
            return new double[] {error / variance, (double) active / n, (double) dead / f};
        }
    }

    /** The rows of the page's table of every SAE, by SAE name: the text of each cell. */
    static Map<String, List<String>> tableRows(String html) {
        String table = html.substring(html.indexOf("<table class=\"cmp\" id=\"saes\">"));
        table = table.substring(0, table.indexOf("</table>"));
        Map<String, List<String>> rows = new LinkedHashMap<>();
        Matcher row = Pattern.compile("<tr><td>(.*?)</td></tr>").matcher(table);
        while (row.find()) {
            List<String> cells = List.of(row.group(1).split("</td><td>"));
            rows.put(cells.getFirst(), cells);
        }
        return rows;
    }

    /** Every inline SVG of the page, parsed as XML (a malformed one fails here), by its aria-label. */
    static Map<String, Element> charts(String html) throws Exception {
        Map<String, Element> charts = new LinkedHashMap<>();
        Matcher svg = Pattern.compile("<svg .*?</svg>", Pattern.DOTALL).matcher(html);
        while (svg.find()) {
            Document doc = DocumentBuilderFactory.newInstance()
                    .newDocumentBuilder()
                    .parse(new ByteArrayInputStream(svg.group().getBytes(StandardCharsets.UTF_8)));
            Element root = doc.getDocumentElement();
            charts.put(root.getAttribute("aria-label"), root);
        }
        return charts;
    }

    static List<String> children(Path dir) throws IOException {
        try (Stream<Path> entries = Files.list(dir)) {
            return entries.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }
}
