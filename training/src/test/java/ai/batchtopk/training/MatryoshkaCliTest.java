package ai.batchtopk.training;

import static org.assertj.core.api.Assertions.assertThat;

import ai.batchtopk.SaeLens;
import ai.batchtopk.io.JsonCodec;
import ai.batchtopk.train.OutputDirectory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --arch matryoshka-batchtopk} on the command line: training, evaluation with a prefix NMSE per
 * width, the SAELens export, exact continuation, sweeps and the report; and bad widths.
 */
class MatryoshkaCliTest {
    @TempDir
    static Path shared;

    static Path data;

    @TempDir
    Path tmp;

    @BeforeAll
    static void data() {
        Path toy = shared.resolve("toy");
        Cli.Run synth = Cli.run("synth", "--out", toy, "--d-in", 32, "--features", 48, "--tokens", 2000, "--seed", 1);
        assertThat(synth.code()).as("%s", synth).isZero();
        data = toy.resolve(SynthCommand.ACTIVATIONS);
    }

    private static Object[] train(Object... more) {
        Object[] common = {
            "train",
            "--data",
            data,
            "--arch",
            "matryoshka-batchtopk",
            "--matryoshka-widths",
            "8,24,64",
            "--d-sae",
            64,
            "--k",
            4,
            "--batch-size",
            100,
            "--seed",
            3
        };
        Object[] all = new Object[common.length + more.length];
        System.arraycopy(common, 0, all, 0, common.length);
        System.arraycopy(more, 0, all, common.length, more.length);
        return all;
    }

    private static Map<?, ?> cfg(Path dir) throws IOException {
        return (Map<?, ?>) JsonCodec.parse(Files.readString(dir.resolve(SaeLens.CONFIG_FILE)));
    }

    private static void assertError(Cli.Run run, int code, String... fragments) {
        assertThat(run.code()).as("%s", run).isEqualTo(code);
        assertThat(run.out()).isEmpty();
        assertThat(run.err().lines().toList()).as("%s", run).hasSize(1);
        assertThat(run.err()).startsWith("error: ").contains(fragments);
    }

    @Test
    void trainsEvaluatesEachPrefixAndExportsAsJumpRelu() throws IOException {
        Path out = tmp.resolve("sae");
        Cli.Run run =
                Cli.run(train("--steps", 60, "--lr", 5e-3, "--eval-data", data, "--eval-every", 30, "--out", out));
        assertThat(run.code()).as("%s", run).isZero();

        Cli.Run eval = Cli.run("eval", "--sae", out, "--data", data);
        assertThat(eval.code()).as("%s", eval).isZero();
        List<?> prefix = (List<?>) eval.json().get("prefix_nmse");
        assertThat(prefix).as("%s", eval).hasSize(3);
        assertThat((Double) prefix.get(0)).isGreaterThan((Double) prefix.get(1));
        assertThat((Double) prefix.get(1)).isGreaterThan((Double) prefix.get(2));
        assertThat(prefix.get(2)).isEqualTo(eval.json().get("nmse"));
        List<String> evalLines = Files.readAllLines(out.resolve("eval.jsonl"));
        assertThat(((Map<?, ?>) JsonCodec.parse(evalLines.getLast())).get("prefix_nmse"))
                .isEqualTo(prefix);

        Map<?, ?> cfg = cfg(out);
        assertThat(cfg.get("architecture")).isEqualTo("jumprelu");
        Map<?, ?> ours = (Map<?, ?>) cfg.get(SaeLens.OUR_KEY);
        assertThat(ours.get("architecture")).isEqualTo("matryoshka-batchtopk");
        assertThat(ours.get("matryoshka_widths")).isEqualTo(List.of(8L, 24L, 64L));
        assertThat((Double) ours.get("theta")).isPositive();

        Cli.Run report = Cli.run("report", "--run", out);
        assertThat(report.code()).as("%s", report).isZero();
        assertThat(out.resolve("report.html")).exists();
    }

    @Test
    void initContinuesARunExactly() throws IOException {
        Path straight = tmp.resolve("straight");
        Path half = tmp.resolve("half");
        Path resumed = tmp.resolve("resumed");
        assertThat(Cli.run(train("--steps", 12, "--out", straight)).code()).isZero();
        assertThat(Cli.run(train("--steps", 6, "--out", half)).code()).isZero();
        Cli.Run resume = Cli.run(
                "train",
                "--data",
                data,
                "--init",
                half,
                "--batch-size",
                100,
                "--seed",
                3,
                "--steps",
                6,
                "--out",
                resumed);
        assertThat(resume.code()).as("%s", resume).isZero();
        assertThat(resume.json().get("step")).isEqualTo(12L);
        assertThat(Files.readAllBytes(resumed.resolve(SaeLens.WEIGHTS_FILE)))
                .isEqualTo(Files.readAllBytes(straight.resolve(SaeLens.WEIGHTS_FILE)));
        assertThat(cfg(resumed).get(SaeLens.OUR_KEY)).isEqualTo(cfg(straight).get(SaeLens.OUR_KEY));

        assertError(
                Cli.run(
                        "train",
                        "--data",
                        data,
                        "--init",
                        half,
                        "--matryoshka-widths",
                        "16,64",
                        "--batch-size",
                        100,
                        "--steps",
                        1,
                        "--out",
                        tmp.resolve("other")),
                Main.USAGE,
                "--matryoshka-widths 16,64 conflicts with the" + " --init SAE",
                "matryoshka widths 8,24,64");
    }

    @Test
    void resumeAfterAFailedCheckpointEndsAsAnUninterruptedRun() throws IOException {
        Path straight = tmp.resolve("straight");
        assertThat(Cli.run(train("--steps", 12, "--checkpoint-every", 5, "--out", straight))
                        .code())
                .isZero();
        Path out = tmp.resolve("failed");
        int[] saves = {0};
        OutputDirectory.beforeSave = dir -> {
            if (++saves[0] == 2) {
                throw new java.nio.file.FileSystemException(dir.toString(), null, "Read-only file system");
            }
        };
        try {
            assertThat(Cli.run(train("--steps", 12, "--checkpoint-every", 5, "--out", out))
                            .code())
                    .isEqualTo(Main.FAILURE);
        } finally {
            OutputDirectory.beforeSave = dir -> {};
        }
        Cli.Run resumed = Cli.run("train", "--resume", out);
        assertThat(resumed.code()).as("%s", resumed).isZero();
        TrainingRunTest.assertSameState(out, straight);
    }

    @Test
    void aBatchTopKSaeStartsAMatryoshkaRun() throws IOException {
        Path batchTopK = tmp.resolve("batchtopk");
        assertThat(Cli.run(
                                "train",
                                "--data",
                                data,
                                "--d-sae",
                                64,
                                "--k",
                                4,
                                "--batch-size",
                                100,
                                "--steps",
                                5,
                                "--out",
                                batchTopK)
                        .code())
                .isZero();
        assertError(
                Cli.run(
                        "train",
                        "--data",
                        data,
                        "--init",
                        batchTopK,
                        "--arch",
                        "matryoshka-batchtopk",
                        "--batch-size",
                        100,
                        "--steps",
                        3,
                        "--out",
                        tmp.resolve("m")),
                Main.FAILURE,
                "--matryoshka-widths is required");
        Cli.Run run = Cli.run(
                "train",
                "--data",
                data,
                "--init",
                batchTopK,
                "--arch",
                "matryoshka-batchtopk",
                "--matryoshka-widths",
                "16,64",
                "--batch-size",
                100,
                "--steps",
                3,
                "--out",
                tmp.resolve("m"));
        assertThat(run.code()).as("%s", run).isZero();
        Map<?, ?> ours = (Map<?, ?>) cfg(tmp.resolve("m")).get(SaeLens.OUR_KEY);
        assertThat(ours.get("matryoshka_widths")).isEqualTo(List.of(16L, 64L));
        assertThat(ours.get("k")).isEqualTo(4L);
    }

    @Test
    void sweepsTrainOneSaePerK() {
        Path out = tmp.resolve("sweep");
        Cli.Run run = Cli.run(
                "train",
                "--data",
                data,
                "--arch",
                "matryoshka-batchtopk",
                "--matryoshka-widths",
                "8,24,64",
                "--d-sae",
                64,
                "--sweep",
                "k=2,4",
                "--batch-size",
                100,
                "--steps",
                5,
                "--out",
                out);
        assertThat(run.code()).as("%s", run).isZero();
        for (String name : List.of("matryoshka-batchtopk-dsae64-k2", "matryoshka-batchtopk-dsae64-k4")) {
            Cli.Run eval = Cli.run("eval", "--sae", out.resolve(name), "--data", data);
            assertThat(eval.code()).as("%s", eval).isZero();
            assertThat((List<?>) eval.json().get("prefix_nmse")).hasSize(3);
        }
    }

    @Test
    void badWidthsAreUsageErrorsThatSayWhatIsWrong() {
        Object[] base = {"train", "--data", data, "--d-sae", 64, "--k", 4, "--batch-size", 100, "--steps", 1};
        assertError(
                run(base, "--arch", "matryoshka-batchtopk", "--matryoshka-widths", "8,8,64"),
                Main.USAGE,
                "matryoshka widths must be positive and strictly increasing, but width 2 is 8 after 8");
        assertError(
                run(base, "--arch", "matryoshka-batchtopk", "--matryoshka-widths", "24,8,64"),
                Main.USAGE,
                "strictly increasing, but width 2 is 8 after 24");
        assertError(
                run(base, "--arch", "matryoshka-batchtopk", "--matryoshka-widths", "8,32"),
                Main.USAGE,
                "the last matryoshka width must equal d_sae = 64, got 32");
        assertError(
                run(base, "--arch", "matryoshka-batchtopk", "--matryoshka-widths", "8,128"),
                Main.USAGE,
                "the last matryoshka width must equal d_sae = 64, got 128");
        assertError(
                run(base, "--arch", "matryoshka-batchtopk"),
                Main.USAGE,
                "--matryoshka-widths is required for --arch matryoshka-batchtopk");
        assertError(
                run(base, "--arch", "matryoshka-batchtopk", "--matryoshka-widths", "8,x"),
                Main.USAGE,
                "--matryoshka-widths",
                "'x'");
        assertError(
                run(base, "--matryoshka-widths", "8,64"),
                Main.USAGE,
                "--matryoshka-widths applies to --arch matryoshka-batchtopk only, not batchtopk");
        assertError(
                run(base, "--arch", "matryoshka-batchtopk", "--matryoshka-widths", "8,64", "--sweep", "d-sae=64,128"),
                Main.USAGE,
                "the last matryoshka width must equal d_sae = 128, got 64");
    }

    private Cli.Run run(Object[] base, Object... more) {
        Object[] all = new Object[base.length + more.length + 2];
        System.arraycopy(base, 0, all, 0, base.length);
        System.arraycopy(more, 0, all, base.length, more.length);
        all[all.length - 2] = "--out";
        all[all.length - 1] = tmp.resolve("bad");
        return Cli.run(all);
    }
}
