package ai.batchtopk.training;

import static org.assertj.core.api.Assertions.assertThat;

import ai.batchtopk.Architecture;
import ai.batchtopk.Sae;
import ai.batchtopk.SaeLens;
import ai.batchtopk.io.DType;
import ai.batchtopk.io.JsonCodec;
import ai.batchtopk.io.Safetensors;
import ai.batchtopk.io.Tensor;
import ai.batchtopk.train.MetricsLog;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --init} from SAEs that are not a checkpoint of the same architecture: another architecture
 * of the same shape (a new run from the parameters), and the BatchTopK training checkpoints SAELens
 * writes (for {@code eval} too).
 */
class InitFromOtherSaesTest {
    @TempDir
    static Path shared;

    static Path data;
    /** A BatchTopK SAE trained on {@link #data}. */
    static Path batchTopK;

    @TempDir
    Path tmp;

    @BeforeAll
    static void trainOne() {
        Path toy = shared.resolve("toy");
        Cli.Run synth = Cli.run("synth", "--out", toy, "--d-in", 32, "--features", 48, "--tokens", 2000, "--seed", 1);
        assertThat(synth.code()).as("%s", synth).isZero();
        data = toy.resolve(SynthCommand.ACTIVATIONS);
        batchTopK = shared.resolve("batchtopk");
        Cli.Run train = Cli.run(
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
                40,
                "--lr",
                5e-3,
                "--normalize",
                "none",
                "--out",
                batchTopK);
        assertThat(train.code()).as("%s", train).isZero();
    }

    private static void assertError(Cli.Run run, int code, String... fragments) {
        assertThat(run.code()).as("%s", run).isEqualTo(code);
        assertThat(run.err().lines().toList()).as("%s", run).hasSize(1);
        assertThat(run.err()).startsWith("error: ").contains(fragments);
    }

    private static Map<?, ?> ourConfig(Path dir) throws IOException {
        return (Map<?, ?>)
                ((Map<?, ?>) JsonCodec.parse(Files.readString(dir.resolve(SaeLens.CONFIG_FILE)))).get(SaeLens.OUR_KEY);
    }

    @Test
    void theLossWeightsApplyOverTheInitSaeAsTheOtherSettingsDo() throws IOException {
        Path jumpRelu = tmp.resolve("jumprelu");
        Cli.Run run = trainFrom(batchTopK, jumpRelu, "--arch", "jumprelu", "--l0-coeff", 0.05, "--lr", 2e-3);
        assertThat(run.code()).as("%s", run).isZero();
        assertThat(ourConfig(jumpRelu).get("l0_coeff")).isEqualTo(0.05);
        assertThat(ourConfig(jumpRelu).get("lr")).isEqualTo(2e-3);

        // Going on from that checkpoint (same architecture) with another weight.
        Path again = tmp.resolve("again");
        run = trainFrom(jumpRelu, again, "--l0-coeff", 0.02);
        assertThat(run.code()).as("%s", run).isZero();
        assertThat(ourConfig(again).get("l0_coeff")).isEqualTo(0.02);

        Path relu = tmp.resolve("relu");
        run = trainFrom(batchTopK, relu, "--arch", "relu", "--l1-coeff", 0.004);
        assertThat(run.code()).as("%s", run).isZero();
        assertThat(ourConfig(relu).get("l1_coeff")).isEqualTo(0.004);
    }

    /** Four steps of 100 rows of {@link #data} from {@code init} into {@code out}, with more options. */
    private static Cli.Run trainFrom(Path init, Path out, Object... options) {
        Object[] common = {"train", "--data", data, "--init", init, "--batch-size", 100, "--steps", 4, "--out", out};
        return Cli.run(java.util.stream.Stream.concat(java.util.Arrays.stream(common), java.util.Arrays.stream(options))
                .toArray());
    }

    @Test
    void anotherArchitectureStartsANewRunFromTheParameters() throws IOException {
        Path jumpRelu = tmp.resolve("jumprelu");
        Cli.Run run = Cli.run(
                "train",
                "--data",
                data,
                "--init",
                batchTopK,
                "--arch",
                "jumprelu",
                "--batch-size",
                100,
                "--steps",
                3,
                "--out",
                jumpRelu);
        assertThat(run.code()).as("%s", run).isZero();
        // A new run: its own steps from 1, not the 40 of the checkpoint it started from.
        assertThat(run.json().get("step")).isEqualTo(3L);
        assertThat(((Map<?, ?>) JsonCodec.parse(Files.readAllLines(jumpRelu.resolve(MetricsLog.FILE))
                                .getFirst()))
                        .get("step"))
                .isEqualTo(1L);
        assertThat(ourConfig(jumpRelu).get("architecture")).isEqualTo("jumprelu");
        assertThat(ourConfig(jumpRelu).get("d_sae")).isEqualTo(64L);
        assertThat(Cli.run("eval", "--sae", jumpRelu, "--data", data).code()).isZero();

        // And back: JumpReLU has no k, so BatchTopK needs one.
        assertError(
                Cli.run(
                        "train",
                        "--data",
                        data,
                        "--init",
                        jumpRelu,
                        "--arch",
                        "batchtopk",
                        "--batch-size",
                        100,
                        "--steps",
                        3,
                        "--out",
                        tmp.resolve("back")),
                Main.FAILURE,
                "--k is required",
                "jumprelu");
        Cli.Run back = Cli.run(
                "train",
                "--data",
                data,
                "--init",
                jumpRelu,
                "--arch",
                "topk",
                "--k",
                3,
                "--batch-size",
                100,
                "--steps",
                3,
                "--out",
                tmp.resolve("back"));
        assertThat(back.code()).as("%s", back).isZero();
        assertThat(ourConfig(tmp.resolve("back")).get("k")).isEqualTo(3L);
    }

    @Test
    void anotherArchitectureMayNotOverwriteTheSaeItStartsFrom() throws IOException {
        Path copy = tmp.resolve("copy");
        Files.createDirectories(copy);
        try (var files = Files.list(batchTopK)) {
            for (Path f : files.toList()) {
                Files.copy(f, copy.resolve(f.getFileName()));
            }
        }
        byte[] before = Files.readAllBytes(copy.resolve(SaeLens.WEIGHTS_FILE));
        assertError(
                Cli.run(
                        "train",
                        "--data",
                        data,
                        "--init",
                        copy,
                        "--arch",
                        "relu",
                        "--batch-size",
                        100,
                        "--steps",
                        1,
                        "--out",
                        copy),
                Main.USAGE,
                "--init directory",
                "another --out");
        assertThat(Files.readAllBytes(copy.resolve(SaeLens.WEIGHTS_FILE))).isEqualTo(before);
    }

    /**
     * Our BatchTopK SAE written as SAELens writes a BatchTopK training checkpoint with
     * rescale_acts_by_decoder_norm: decoder rows scaled by s_j, encoder columns and b_enc divided by
     * s_j, which is the same function under SAELens's rescaling.
     */
    private static void writeAsSaeLensTrainingCheckpoint(Path target, String architecture) throws IOException {
        Files.createDirectories(target);
        try (Arena arena = Arena.ofConfined();
                Sae sae = SaeLens.load(batchTopK)) {
            Tensor wEnc = sae.state("W_enc", arena);
            Tensor wDec = sae.state("W_dec", arena);
            Tensor bEnc = sae.state("b_enc", arena);
            for (int j = 0; j < 64; j++) {
                float scale = 0.5f + j / 32f;
                for (int i = 0; i < 32; i++) {
                    wDec.data()
                            .setAtIndex(
                                    Tensor.F32_LE,
                                    j * 32 + i,
                                    wDec.data().getAtIndex(Tensor.F32_LE, j * 32 + i) * scale);
                    wEnc.data()
                            .setAtIndex(
                                    Tensor.F32_LE,
                                    i * 64 + j,
                                    wEnc.data().getAtIndex(Tensor.F32_LE, i * 64 + j) / scale);
                }
                bEnc.data().setAtIndex(Tensor.F32_LE, j, bEnc.data().getAtIndex(Tensor.F32_LE, j) / scale);
            }
            Tensor threshold = Tensor.allocate(DType.F64, new long[0], arena);
            threshold.data().set(Tensor.F64_LE, 0, sae.theta());
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            tensors.put("W_enc", wEnc);
            tensors.put("W_dec", wDec);
            tensors.put("b_enc", bEnc);
            tensors.put("b_dec", sae.state("b_dec", arena));
            tensors.put("topk_threshold", threshold);
            Safetensors.write(target.resolve(SaeLens.WEIGHTS_FILE), tensors, Map.of());
        }
        Map<String, Object> cfg = new LinkedHashMap<>();
        cfg.put("d_in", 32);
        cfg.put("d_sae", 64);
        cfg.put("dtype", "float32");
        cfg.put("device", "cuda");
        cfg.put("apply_b_dec_to_input", true);
        cfg.put("normalize_activations", "none");
        cfg.put("reshape_activations", "none");
        cfg.put("metadata", Map.of("model_name", "toy", "hook_name", "toy", "training_architecture", architecture));
        cfg.put("decoder_init_norm", 0.1);
        cfg.put("k", 4.0);
        cfg.put("use_sparse_activations", false);
        cfg.put("aux_loss_coefficient", 1.0);
        cfg.put("rescale_acts_by_decoder_norm", true);
        cfg.put("topk_threshold_lr", 0.01);
        if (architecture.equals("matryoshka_batchtopk")) {
            cfg.put("matryoshka_widths", List.of(16, 64));
            cfg.put("use_matryoshka_aux_loss", false);
        }
        cfg.put("architecture", architecture);
        Files.writeString(target.resolve(SaeLens.CONFIG_FILE), JsonCodec.write(cfg));
    }

    @Test
    void saeLensBatchTopKTrainingCheckpointsEvaluateAndStartRuns() throws IOException {
        Path saeLens = tmp.resolve("saelens");
        writeAsSaeLensTrainingCheckpoint(saeLens, "batchtopk");
        Cli.Run ours = Cli.run("eval", "--sae", batchTopK, "--data", data);
        Cli.Run theirs = Cli.run("eval", "--sae", saeLens, "--data", data);
        assertThat(theirs.code()).as("%s", theirs).isZero();
        // The same function up to float rounding (a few codes at theta may flip in 2000 tokens).
        assertThat((Double) theirs.json().get("nmse"))
                .isCloseTo((Double) ours.json().get("nmse"), Offset.offset(1e-4));
        assertThat((Double) theirs.json().get("l0"))
                .isCloseTo((Double) ours.json().get("l0"), Offset.offset(2e-3));

        Cli.Run init = Cli.run(
                "train",
                "--data",
                data,
                "--init",
                saeLens,
                "--batch-size",
                100,
                "--steps",
                3,
                "--out",
                tmp.resolve("continued"));
        assertThat(init.code()).as("%s", init).isZero();
        assertThat(ourConfig(tmp.resolve("continued")).get("architecture")).isEqualTo("batchtopk");
        assertThat(ourConfig(tmp.resolve("continued")).get("k")).isEqualTo(4L);

        Cli.Run asTopK = Cli.run(
                "train",
                "--data",
                data,
                "--init",
                saeLens,
                "--arch",
                "topk",
                "--batch-size",
                100,
                "--steps",
                3,
                "--out",
                tmp.resolve("topk"));
        assertThat(asTopK.code()).as("%s", asTopK).isZero();
        try (Sae topK = SaeLens.load(tmp.resolve("topk"))) {
            assertThat(topK.config().architecture()).isEqualTo(Architecture.TOPK);
            assertThat(topK.config().k()).isEqualTo(4);
        }
    }

    @Test
    void saeLensMatryoshkaTrainingCheckpointsEvaluateAndStartRuns() throws IOException {
        Path matryoshka = tmp.resolve("matryoshka");
        writeAsSaeLensTrainingCheckpoint(matryoshka, "matryoshka_batchtopk");
        Cli.Run ours = Cli.run("eval", "--sae", batchTopK, "--data", data);
        Cli.Run theirs = Cli.run("eval", "--sae", matryoshka, "--data", data);
        assertThat(theirs.code()).as("%s", theirs).isZero();
        // The same inference function as the BatchTopK SAE it was written from, plus a prefix NMSE per width.
        assertThat((Double) theirs.json().get("nmse"))
                .isCloseTo((Double) ours.json().get("nmse"), Offset.offset(1e-4));
        assertThat((List<?>) theirs.json().get("prefix_nmse"))
                .hasSize(2)
                .last()
                .isEqualTo(theirs.json().get("nmse"));

        Cli.Run init = Cli.run(
                "train",
                "--data",
                data,
                "--init",
                matryoshka,
                "--batch-size",
                100,
                "--steps",
                3,
                "--out",
                tmp.resolve("continued"));
        assertThat(init.code()).as("%s", init).isZero();
        assertThat(ourConfig(tmp.resolve("continued")).get("architecture")).isEqualTo("matryoshka-batchtopk");
        assertThat(ourConfig(tmp.resolve("continued")).get("matryoshka_widths")).isEqualTo(List.of(16L, 64L));
    }
}
