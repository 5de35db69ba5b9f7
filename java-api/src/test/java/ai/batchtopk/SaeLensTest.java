package ai.batchtopk;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.batchtopk.io.DType;
import ai.batchtopk.io.JsonCodec;
import ai.batchtopk.io.MalformedFileException;
import ai.batchtopk.io.Safetensors;
import ai.batchtopk.io.SafetensorsFile;
import ai.batchtopk.io.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class SaeLensTest {
    @TempDir
    Path dir;

    private static Sae trained(Architecture architecture, Arena arena) {
        Sae sae = Sae.create(TestData.small(architecture).lr(1e-2).build());
        for (int step = 0; step < 5; step++) {
            sae.trainStep(TestData.gaussian(arena, 64, 32, step, 0.5f));
        }
        return sae;
    }

    @ParameterizedTest
    @EnumSource(Architecture.class)
    void saveThenLoadIsBitIdentical(Architecture architecture) throws IOException {
        try (Arena arena = Arena.ofConfined();
                Sae sae = trained(architecture, arena)) {
            SaeLens.saveInference(sae, dir.resolve("sae"), Map.of("model_name", "test-model"));
            try (Sae loaded = SaeLens.load(dir.resolve("sae"))) {
                assertThat(loaded.config()).isEqualTo(sae.config());
                List<String> parameters =
                        new java.util.ArrayList<>(List.of("W_enc", "W_dec", "b_enc", "b_dec", "theta"));
                if (architecture == Architecture.JUMPRELU) {
                    parameters.add("log_threshold");
                }
                for (String name : parameters) {
                    assertThat(loaded.state(name)
                                    .data()
                                    .mismatch(sae.state(name).data()))
                            .as(name)
                            .isEqualTo(-1);
                }
                // Same parameters, same codes at inference.
                Tensor batch = TestData.gaussian(arena, 16, 32, 77, 0.5f);
                MemorySegment a = arena.allocate(16 * 128 * 4);
                MemorySegment b = arena.allocate(16 * 128 * 4);
                sae.encode(batch, Selection.INFERENCE, a);
                loaded.encode(batch, Selection.INFERENCE, b);
                assertThat(a.mismatch(b)).isEqualTo(-1);
            }
        }
    }

    @Test
    void batchTopKIsWrittenAsJumpReluWithThetaEverywhere() throws IOException {
        try (Arena arena = Arena.ofConfined();
                Sae sae = trained(Architecture.BATCHTOPK, arena)) {
            Map<String, Object> metadata = new LinkedHashMap<>();
            metadata.put("model_name", "all-MiniLM-L6-v2");
            metadata.put("hook_name", "layer.3");
            metadata.put("context_size", 128);
            SaeLens.saveInference(sae, dir, metadata);
            Map<?, ?> cfg = (Map<?, ?>) JsonCodec.parse(Files.readString(dir.resolve("cfg.json")));
            assertThat(cfg.get("d_in")).isEqualTo(32L);
            assertThat(cfg.get("d_sae")).isEqualTo(128L);
            assertThat(cfg.get("dtype")).isEqualTo("float32");
            assertThat(cfg.get("device")).isEqualTo("cpu");
            assertThat(cfg.get("apply_b_dec_to_input")).isEqualTo(true);
            assertThat(cfg.get("normalize_activations")).isEqualTo("layer_norm");
            assertThat(cfg.get("reshape_activations")).isEqualTo("none");
            assertThat(cfg.get("architecture")).isEqualTo("jumprelu");
            Map<?, ?> meta = (Map<?, ?>) cfg.get("metadata");
            assertThat(meta.get("sae_lens_version")).isEqualTo("6.0.0");
            assertThat(meta.get("model_name")).isEqualTo("all-MiniLM-L6-v2");
            assertThat(meta.get("hook_name")).isEqualTo("layer.3");
            assertThat(meta.get("context_size")).isEqualTo(128L);
            assertThat(meta.containsKey("dataset_path")).isTrue();
            assertThat(meta.get("dataset_path")).isNull();
            Map<?, ?> ours = (Map<?, ?>) cfg.get("batchtopk");
            assertThat(ours.get("architecture")).isEqualTo("batchtopk");
            assertThat(ours.get("k")).isEqualTo(8L);
            assertThat(ours.get("theta")).isEqualTo(sae.theta());
            assertThat(sae.theta()).isPositive();

            try (Arena read = Arena.ofConfined()) {
                SafetensorsFile weights = Safetensors.open(dir.resolve("sae_weights.safetensors"), read);
                assertThat(weights.tensors().keySet())
                        .containsExactlyInAnyOrder("W_enc", "W_dec", "b_enc", "b_dec", "threshold");
                assertThat(weights.get("W_enc").shape()).containsExactly(32, 128);
                assertThat(weights.get("W_dec").shape()).containsExactly(128, 32);
                float[] threshold = weights.get("threshold").toFloatArray();
                assertThat(threshold).hasSize(128).containsOnly((float) sae.theta());
            }
        }
    }

    @Test
    void otherArchitecturesUseTheirSaeLensNames() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            try (Sae topk = trained(Architecture.TOPK, arena)) {
                SaeLens.saveInference(topk, dir.resolve("topk"), Map.of());
            }
            Map<?, ?> cfg = (Map<?, ?>) JsonCodec.parse(Files.readString(dir.resolve("topk/cfg.json")));
            assertThat(cfg.get("architecture")).isEqualTo("topk");
            assertThat(cfg.get("k")).isEqualTo(8L);
            assertThat(cfg.get("rescale_acts_by_decoder_norm")).isEqualTo(false);

            try (Sae relu = Sae.create(TestData.small(Architecture.RELU)
                    .normalization(Normalization.NONE)
                    .build())) {
                SaeLens.saveInference(relu, dir.resolve("relu"), Map.of());
            }
            cfg = (Map<?, ?>) JsonCodec.parse(Files.readString(dir.resolve("relu/cfg.json")));
            assertThat(cfg.get("architecture")).isEqualTo("standard");
            assertThat(cfg.get("normalize_activations")).isEqualTo("none");

            try (Sae jumprelu = trained(Architecture.JUMPRELU, arena);
                    Arena read = Arena.ofConfined()) {
                SaeLens.saveInference(jumprelu, dir.resolve("jumprelu"), Map.of());
                SafetensorsFile weights = Safetensors.open(dir.resolve("jumprelu/sae_weights.safetensors"), read);
                float[] threshold = weights.get("threshold").toFloatArray();
                float[] logThreshold = jumprelu.state("log_threshold").toFloatArray();
                for (int i = 0; i < threshold.length; i++) {
                    assertThat((double) threshold[i])
                            .isCloseTo(
                                    Math.exp(logThreshold[i]), org.assertj.core.data.Percentage.withPercentage(1e-4));
                }
            }
        }
    }

    /** Writes a directory the way SAELens would (no "batchtopk" key). */
    private void writeSaeLens(
            Path target, String architecture, Map<String, Object> extraCfg, Map<String, Tensor> overrides, Arena arena)
            throws IOException {
        Files.createDirectories(target);
        Map<String, Object> cfg = new LinkedHashMap<>();
        cfg.put("d_in", 32);
        cfg.put("d_sae", 128);
        cfg.put("dtype", "float32");
        cfg.put("device", "cuda");
        cfg.put("apply_b_dec_to_input", true);
        cfg.put("normalize_activations", "none");
        cfg.put("architecture", architecture);
        cfg.put("some_future_key", List.of(1, 2, 3));
        cfg.putAll(extraCfg);
        Files.writeString(target.resolve("cfg.json"), JsonCodec.write(cfg));
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("W_enc", TestData.gaussian(arena, 32, 128, 1));
        tensors.put("W_dec", TestData.gaussian(arena, 128, 32, 2));
        tensors.put("b_enc", TestData.gaussianVector(arena, 128, 3));
        tensors.put("b_dec", TestData.gaussianVector(arena, 32, 4));
        Tensor threshold = Tensor.allocate(DType.F32, new long[] {128}, arena);
        for (int i = 0; i < 128; i++) {
            threshold.data().setAtIndex(Tensor.F32_LE, i, 0.01f * (i + 1));
        }
        tensors.put("threshold", threshold);
        tensors.put("log_feature_sparsity", Tensor.allocate(DType.F32, new long[] {128}, arena));
        tensors.putAll(overrides);
        Safetensors.write(target.resolve("sae_weights.safetensors"), tensors, Map.of());
    }

    @Test
    void loadsWhatSaeLensWrites() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            writeSaeLens(dir.resolve("j"), "jumprelu", Map.of(), Map.of(), arena);
            try (Sae sae = SaeLens.load(dir.resolve("j"), b -> b.device(Device.CPU))) {
                assertThat(sae.config().architecture()).isEqualTo(Architecture.JUMPRELU);
                assertThat(sae.config().normalization()).isEqualTo(Normalization.NONE);
                float[] logThreshold = sae.state("log_threshold").toFloatArray();
                assertThat(logThreshold[9]).isEqualTo((float) Math.log(0.1f));
                assertThat(sae.state("W_enc").toFloatArray())
                        .isEqualTo(TestData.gaussian(arena, 32, 128, 1).toFloatArray());
            }
            writeSaeLens(
                    dir.resolve("t"), "topk", Map.of("k", 5, "normalize_activations", "layer_norm"), Map.of(), arena);
            try (Sae sae = SaeLens.load(dir.resolve("t"), b -> b.device(Device.CPU))) {
                assertThat(sae.config().architecture()).isEqualTo(Architecture.TOPK);
                assertThat(sae.config().k()).isEqualTo(5);
                assertThat(sae.config().normalization()).isEqualTo(Normalization.PER_TOKEN);
            }
            writeSaeLens(dir.resolve("s"), "standard", Map.of(), Map.of(), arena);
            try (Sae sae = SaeLens.load(dir.resolve("s"), b -> b.device(Device.CPU))) {
                assertThat(sae.config().architecture()).isEqualTo(Architecture.RELU);
            }
        }
    }

    /** A BatchTopK training checkpoint as SAELens writes it (BatchTopKTrainingSAE.save_model). */
    private void writeSaeLensBatchTopK(Path target, Map<String, Object> extraCfg, double topkThreshold, Arena arena)
            throws IOException {
        Map<String, Object> cfg = new LinkedHashMap<>();
        cfg.put("k", 8.0);
        cfg.put("topk_threshold_lr", 0.02);
        cfg.put("aux_loss_coefficient", 1.0);
        cfg.put("use_sparse_activations", false);
        cfg.put("decoder_init_norm", 0.1);
        cfg.put("reshape_activations", "none");
        cfg.put("metadata", Map.of("training_architecture", "batchtopk"));
        cfg.putAll(extraCfg);
        Tensor threshold = Tensor.allocate(DType.F64, new long[0], arena);
        threshold.data().set(Tensor.F64_LE, 0, topkThreshold);
        writeSaeLens(target, "batchtopk", cfg, Map.of("topk_threshold", threshold), arena);
    }

    @Test
    void loadsSaeLensBatchTopKTrainingCheckpointsWithDecoderNormsFolded() throws IOException {
        double theta = 40;
        try (Arena arena = Arena.ofConfined()) {
            writeSaeLensBatchTopK(dir, Map.of("rescale_acts_by_decoder_norm", true), theta, arena);
            try (Sae sae = SaeLens.load(dir)) {
                assertThat(sae.config().architecture()).isEqualTo(Architecture.BATCHTOPK);
                assertThat(sae.config().k()).isEqualTo(8);
                assertThat(sae.config().thetaMomentum()).isEqualTo(0.02);
                assertThat(sae.theta()).isEqualTo(theta);
                assertThat(SaeLens.config(dir)).isEqualTo(sae.config());
                float[] wDec = sae.state("W_dec").toFloatArray();
                for (int j = 0; j < 128; j++) {
                    double norm = 0;
                    for (int i = 0; i < 32; i++) {
                        norm += (double) wDec[j * 32 + i] * wDec[j * 32 + i];
                    }
                    assertThat(Math.sqrt(norm))
                            .as("norm of W_dec row %d", j)
                            .isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-5));
                }
                // The function SAELens computes: pre-activations scaled by the decoder norms, compared
                // with topk_threshold, decoded by the rows divided by their norms.
                Tensor batch = TestData.gaussian(arena, 16, 32, 5);
                float[] expected = saeLensRescaledInference(batch.toFloatArray(), theta, arena);
                MemorySegment out = arena.allocate(16 * 32 * 4);
                sae.reconstruct(batch, Selection.INFERENCE, out);
                Tensor actual = new Tensor(DType.F32, new long[] {16, 32}, out);
                Tensor wanted = Tensor.ofFloats(new long[] {16, 32}, expected);
                assertThat(TestData.relativeDifference(actual, wanted)).isLessThan(1e-5);
            }
        }
    }

    /** SAELens's BatchTopK with rescale_acts_by_decoder_norm at inference, in doubles, on writeSaeLens's weights. */
    private static float[] saeLensRescaledInference(float[] x, double theta, Arena arena) {
        float[] wEnc = TestData.gaussian(arena, 32, 128, 1).toFloatArray();
        float[] wDec = TestData.gaussian(arena, 128, 32, 2).toFloatArray();
        float[] bEnc = TestData.gaussianVector(arena, 128, 3).toFloatArray();
        float[] bDec = TestData.gaussianVector(arena, 32, 4).toFloatArray();
        int rows = x.length / 32;
        float[] out = new float[x.length];
        int fired = 0;
        for (int r = 0; r < rows; r++) {
            double[] recon = new double[32];
            for (int i = 0; i < 32; i++) {
                recon[i] = bDec[i];
            }
            for (int j = 0; j < 128; j++) {
                double pre = bEnc[j];
                double norm = 0;
                for (int i = 0; i < 32; i++) {
                    pre += (x[r * 32 + i] - bDec[i]) * (double) wEnc[i * 128 + j];
                    norm += (double) wDec[j * 32 + i] * wDec[j * 32 + i];
                }
                norm = Math.sqrt(norm);
                double scaled = pre * norm;
                if (scaled > theta) {
                    fired++;
                    for (int i = 0; i < 32; i++) {
                        recon[i] += scaled / norm * wDec[j * 32 + i];
                    }
                }
            }
            for (int i = 0; i < 32; i++) {
                out[r * 32 + i] = (float) recon[i];
            }
        }
        // The check means something only if some latents fire and most do not.
        assertThat(fired).isBetween(rows, rows * 64);
        return out;
    }

    @Test
    void withoutRescalingTheWeightsAreTakenAsTheyAre() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            writeSaeLensBatchTopK(dir, Map.of("rescale_acts_by_decoder_norm", false, "k", 4), 0.5, arena);
            try (Sae sae = SaeLens.load(dir)) {
                assertThat(sae.config().k()).isEqualTo(4);
                assertThat(sae.theta()).isEqualTo(0.5);
                assertThat(sae.state("W_dec").toFloatArray())
                        .isEqualTo(TestData.gaussian(arena, 128, 32, 2).toFloatArray());
                assertThat(sae.state("W_enc").toFloatArray())
                        .isEqualTo(TestData.gaussian(arena, 32, 128, 1).toFloatArray());
            }
        }
    }

    @Test
    void topKTrainedWithRescalingLoadsFolded() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            writeSaeLens(dir, "topk", Map.of("k", 5, "rescale_acts_by_decoder_norm", true), Map.of(), arena);
            try (Sae sae = SaeLens.load(dir)) {
                assertThat(sae.config().architecture()).isEqualTo(Architecture.TOPK);
                float[] wDec = sae.state("W_dec").toFloatArray();
                float[] raw = TestData.gaussian(arena, 128, 32, 2).toFloatArray();
                double norm = 0;
                for (int i = 0; i < 32; i++) {
                    norm += (double) raw[i] * raw[i];
                }
                assertThat((double) wDec[0])
                        .isCloseTo(raw[0] / Math.sqrt(norm), org.assertj.core.data.Offset.offset(1e-6));
                assertThat((double) sae.state("W_enc").toFloatArray()[0])
                        .isCloseTo(
                                TestData.gaussian(arena, 32, 128, 1).toFloatArray()[0] * Math.sqrt(norm),
                                org.assertj.core.data.Offset.offset(1e-5));
            }
        }
    }

    @Test
    void saeLensTrainingCheckpointsThatCannotRunAreRefused() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            writeSaeLensBatchTopK(dir.resolve("fractional"), Map.of("k", 2.5), 1, arena);
            assertThatThrownBy(() -> SaeLens.load(dir.resolve("fractional")))
                    .isInstanceOf(MalformedFileException.class)
                    .hasMessageContaining("cfg.json")
                    .hasMessageContaining("k = 2.5 is not a whole number");

            writeSaeLensBatchTopK(dir.resolve("negative"), Map.of(), -1, arena);
            assertThatThrownBy(() -> SaeLens.load(dir.resolve("negative")))
                    .isInstanceOf(MalformedFileException.class)
                    .hasMessageContaining("sae_weights.safetensors")
                    .hasMessageContaining("topk_threshold = -1.0 is not a finite number >= 0");

            writeSaeLens(dir.resolve("no-threshold"), "batchtopk", Map.of("k", 8), Map.of(), arena);
            assertThatThrownBy(() -> SaeLens.load(dir.resolve("no-threshold")))
                    .isInstanceOf(MalformedFileException.class)
                    .hasMessageContaining("topk_threshold");

            writeSaeLensBatchTopK(dir.resolve("rescale"), Map.of("rescale_acts_by_decoder_norm", "yes"), 1, arena);
            assertThatThrownBy(() -> SaeLens.load(dir.resolve("rescale")))
                    .isInstanceOf(MalformedFileException.class)
                    .hasMessageContaining("'rescale_acts_by_decoder_norm' must be true or false");
        }
    }

    @Test
    void loadsSaeLensMatryoshkaTrainingCheckpoints() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            writeSaeLensBatchTopK(
                    dir.resolve("matryoshka"),
                    Map.of(
                            "architecture",
                            "matryoshka_batchtopk",
                            "matryoshka_widths",
                            List.of(32, 64, 128),
                            "use_matryoshka_aux_loss",
                            false),
                    1.5,
                    arena);
            try (Sae sae = SaeLens.load(dir.resolve("matryoshka"))) {
                assertThat(sae.config().architecture()).isEqualTo(Architecture.MATRYOSHKA_BATCHTOPK);
                assertThat(sae.config().matryoshkaWidths()).containsExactly(32L, 64L, 128L);
                assertThat(sae.config().k()).isEqualTo(8);
                assertThat(sae.config().thetaMomentum()).isEqualTo(0.02);
                assertThat(sae.theta()).isEqualTo(1.5);
                assertThat(SaeLens.config(dir.resolve("matryoshka"))).isEqualTo(sae.config());
            }
            // As SAELens does, widths that stop short of d_sae get d_sae as their last.
            writeSaeLensBatchTopK(
                    dir.resolve("short"),
                    Map.of("architecture", "matryoshka_batchtopk", "matryoshka_widths", List.of(32, 64)),
                    1,
                    arena);
            assertThat(SaeLens.config(dir.resolve("short")).matryoshkaWidths()).containsExactly(32L, 64L, 128L);

            writeSaeLensBatchTopK(
                    dir.resolve("decreasing"),
                    Map.of("architecture", "matryoshka_batchtopk", "matryoshka_widths", List.of(64, 32, 128)),
                    1,
                    arena);
            assertThatThrownBy(() -> SaeLens.load(dir.resolve("decreasing")))
                    .isInstanceOf(MalformedFileException.class)
                    .hasMessageContaining("cfg.json")
                    .hasMessageContaining(
                            "matryoshka widths must be positive and strictly increasing, but width 2 is 32 after 64");
            writeSaeLensBatchTopK(
                    dir.resolve("past"),
                    Map.of("architecture", "matryoshka_batchtopk", "matryoshka_widths", List.of(32, 256)),
                    1,
                    arena);
            assertThatThrownBy(() -> SaeLens.config(dir.resolve("past")))
                    .isInstanceOf(MalformedFileException.class)
                    .hasMessageContaining("the last matryoshka width must equal d_sae = 128, got 256");
            writeSaeLensBatchTopK(dir.resolve("none"), Map.of("architecture", "matryoshka_batchtopk"), 1, arena);
            assertThatThrownBy(() -> SaeLens.config(dir.resolve("none")))
                    .isInstanceOf(MalformedFileException.class)
                    .hasMessageContaining("missing 'matryoshka_widths'");
            writeSaeLensBatchTopK(
                    dir.resolve("text"),
                    Map.of("architecture", "matryoshka_batchtopk", "matryoshka_widths", List.of("32", "128")),
                    1,
                    arena);
            assertThatThrownBy(() -> SaeLens.config(dir.resolve("text")))
                    .isInstanceOf(MalformedFileException.class)
                    .hasMessageContaining("'matryoshka_widths[0]' must be an integer, got \"32\"");
        }
    }

    @Test
    void matryoshkaIsWrittenAsJumpReluWithThetaAndItsWidthsInOurKey() throws IOException {
        try (Arena arena = Arena.ofConfined();
                Sae sae = trained(Architecture.MATRYOSHKA_BATCHTOPK, arena)) {
            SaeLens.saveInference(sae, dir, Map.of());
            Map<?, ?> cfg = (Map<?, ?>) JsonCodec.parse(Files.readString(dir.resolve("cfg.json")));
            assertThat(cfg.get("architecture")).isEqualTo("jumprelu");
            Map<?, ?> ours = (Map<?, ?>) cfg.get("batchtopk");
            assertThat(ours.get("architecture")).isEqualTo("matryoshka-batchtopk");
            assertThat(ours.get("matryoshka_widths")).isEqualTo(List.of(16L, 48L, 128L));
            assertThat(ours.get("theta")).isEqualTo(sae.theta());
            assertThat(sae.theta()).isPositive();
            try (Arena read = Arena.ofConfined()) {
                SafetensorsFile weights = Safetensors.open(dir.resolve("sae_weights.safetensors"), read);
                assertThat(weights.get("threshold").toFloatArray()).hasSize(128).containsOnly((float) sae.theta());
            }
        }
    }

    @Test
    void inconsistentFilesAreRejectedNamingFileAndField() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            writeSaeLens(
                    dir.resolve("shape"),
                    "jumprelu",
                    Map.of(),
                    Map.of("W_enc", TestData.gaussian(arena, 32, 64, 1)),
                    arena);
            assertThatThrownBy(() -> SaeLens.load(dir.resolve("shape"), b -> b.device(Device.CPU)))
                    .isInstanceOf(MalformedFileException.class)
                    .hasMessageContaining("sae_weights.safetensors")
                    .hasMessageContaining("W_enc has shape [32, 64] but cfg.json (d_in, d_sae) makes it [32, 128]");

            writeSaeLens(dir.resolve("dtype"), "jumprelu", Map.of("dtype", "int8"), Map.of(), arena);
            assertThatThrownBy(() -> SaeLens.load(dir.resolve("dtype")))
                    .isInstanceOf(MalformedFileException.class)
                    .hasMessageContaining("cfg.json")
                    .hasMessageContaining("dtype \"int8\" is not supported");

            writeSaeLens(dir.resolve("arch"), "gated", Map.of(), Map.of(), arena);
            assertThatThrownBy(() -> SaeLens.load(dir.resolve("arch")))
                    .isInstanceOf(MalformedFileException.class)
                    .hasMessageContaining("architecture \"gated\" is not supported");

            writeSaeLens(
                    dir.resolve("f16"),
                    "standard",
                    Map.of(),
                    Map.of("b_dec", Tensor.allocate(DType.F16, new long[] {32}, arena)),
                    arena);
            assertThatThrownBy(() -> SaeLens.load(dir.resolve("f16"), b -> b.device(Device.CPU)))
                    .isInstanceOf(MalformedFileException.class)
                    .hasMessageContaining("b_dec has dtype F16");

            writeSaeLens(
                    dir.resolve("zero"),
                    "jumprelu",
                    Map.of(),
                    Map.of("threshold", Tensor.allocate(DType.F32, new long[] {128}, arena)),
                    arena);
            assertThatThrownBy(() -> SaeLens.load(dir.resolve("zero"), b -> b.device(Device.CPU)))
                    .isInstanceOf(MalformedFileException.class)
                    .hasMessageContaining("threshold[0] = 0.0 is not a finite positive number");

            Tensor nan = TestData.gaussian(arena, 128, 32, 2);
            nan.data().setAtIndex(Tensor.F32_LE, 77, Float.NaN);
            writeSaeLens(dir.resolve("nan"), "jumprelu", Map.of(), Map.of("W_dec", nan), arena);
            assertThatThrownBy(() -> SaeLens.load(dir.resolve("nan"), b -> b.device(Device.CPU)))
                    .isInstanceOf(MalformedFileException.class)
                    .hasMessageContaining(
                            dir.resolve("nan/sae_weights.safetensors").toString())
                    .hasMessageContaining("tensor 'W_dec' holds NaN or infinity");

            Files.createDirectories(dir.resolve("json"));
            Files.writeString(dir.resolve("json/cfg.json"), "{\"d_in\": 32,");
            assertThatThrownBy(() -> SaeLens.load(dir.resolve("json")))
                    .isInstanceOf(MalformedFileException.class)
                    .hasMessageContaining("not valid JSON");
        }
    }

    /** cfg.json byte for byte as the hand-written JSON writer wrote it before Jackson (SAELens and our key). */
    @Test
    void cfgJsonIsWrittenAsBefore() {
        Map<String, Object> meta = new LinkedHashMap<>();
        meta.put("model_name", "m");
        meta.put("context_size", 128);
        SaeConfig batchTopK = SaeConfig.builder(32, 128)
                .architecture(Architecture.BATCHTOPK)
                .k(8)
                .build();
        assertThat(JsonCodec.writePretty(SaeLens.configJson(batchTopK, 0.125, meta)))
                .isEqualTo("""
                {
                  "d_in": 32,
                  "d_sae": 128,
                  "dtype": "float32",
                  "device": "cpu",
                  "apply_b_dec_to_input": true,
                  "normalize_activations": "layer_norm",
                  "reshape_activations": "none",
                  "architecture": "jumprelu",
                  "metadata": {
                    "sae_lens_version": "6.0.0",
                    "model_name": "m",
                    "hook_name": null,
                    "context_size": 128,
                    "dataset_path": null
                  },
                  "batchtopk": {
                    "format_version": 1,
                    "d_in": 32,
                    "d_sae": 128,
                    "architecture": "batchtopk",
                    "k": 8,
                    "k_aux": 512,
                    "normalization": "per-token",
                    "dead_after_tokens": 20480,
                    "aux_coeff": 0.03125,
                    "lr": 3.0E-4,
                    "beta1": 0.9,
                    "beta2": 0.99,
                    "eps": 1.0E-8,
                    "max_grad_norm": 100000.0,
                    "l1_coeff": 0.001,
                    "l0_coeff": 0.001,
                    "jumprelu_bandwidth": 0.001,
                    "jumprelu_init_threshold": 0.001,
                    "theta_momentum": 0.01,
                    "seed": 42,
                    "dtype": "float32",
                    "device": "cpu",
                    "path": "fused",
                    "theta": 0.125
                  }
                }""");
        SaeConfig topK =
                SaeConfig.builder(32, 128).architecture(Architecture.TOPK).k(8).build();
        assertThat(JsonCodec.writePretty(SaeLens.configJson(topK, 0.125, meta))).startsWith("""
                {
                  "d_in": 32,
                  "d_sae": 128,
                  "dtype": "float32",
                  "device": "cpu",
                  "apply_b_dec_to_input": true,
                  "normalize_activations": "layer_norm",
                  "reshape_activations": "none",
                  "architecture": "topk",
                  "k": 8,
                  "rescale_acts_by_decoder_norm": false,
                  "metadata": {
                    "sae_lens_version": "6.0.0",
                    "model_name": "m",
                    "hook_name": null,
                    "context_size": 128,
                    "dataset_path": null
                  },""");
    }

    /** Hostile cfg.json files: each a MalformedFileException naming the file and the problem. */
    @Test
    void hostileCfgJsonIsAClearError() throws IOException {
        try (Arena arena = Arena.ofConfined();
                Sae sae = trained(Architecture.BATCHTOPK, arena)) {
            SaeLens.saveInference(sae, dir, Map.of());
        }
        Path cfg = dir.resolve("cfg.json");
        String good = Files.readString(cfg);
        Map<String, String> cases = new LinkedHashMap<>();
        cases.put("[".repeat(100_000), "nesting depth");
        cases.put("{\"a\":".repeat(100_000), "nesting depth");
        cases.put(good.replace("\"d_in\": 32", "\"d_in\": 1e1000000"), "outside the range of a double");
        cases.put(good.replace("\"d_in\": 32", "\"d_in\": " + "9".repeat(1_000_000)), "Number value length (1000000)");
        cases.put(good.replace("\"lr\": ", "\"lr\": 1e400, \"x\": "), "outside the range of a double");
        cases.put(good.replace("\"d_in\": 32", "\"d_in\": 3" + "0".repeat(30)), "'d_in' must be an integer");
        cases.put(good.replace("\"d_in\": 32", "\"d_in\": 32, \"d_in\": 32"), "duplicate key \"d_in\"");
        cases.put(good.replace("\"lr\": ", "\"lr\": 0.1, \"lr\": "), "duplicate key \"lr\"");
        cases.put(
                good.replace("\"float32\"", "\"" + "f".repeat(5_000_000) + "\""),
                "dtype must be \"float32\" or \"float64\", got \"ffff");
        cases.put(
                good.replace("\"architecture\": \"batchtopk\"", "\"architecture\": \"" + "b".repeat(5_000_000) + "\""),
                "'architecture' must be one of");
        for (Map.Entry<String, String> c : cases.entrySet()) {
            Files.writeString(cfg, c.getKey());
            assertThatThrownBy(() -> SaeLens.load(dir))
                    .as(c.getValue())
                    .isInstanceOf(MalformedFileException.class)
                    .hasMessageStartingWith(cfg + ": ")
                    .hasMessageContaining(c.getValue())
                    .satisfies(e ->
                            assertThat(e.getMessage()).hasSizeLessThan(1000).doesNotContain("\n"));
        }
    }

    @Test
    void aLoadedSaeChecksTheWidthOfItsBatches() throws IOException {
        try (Arena arena = Arena.ofConfined();
                Sae sae = trained(Architecture.BATCHTOPK, arena)) {
            SaeLens.saveInference(sae, dir, Map.of());
        }
        try (Arena arena = Arena.ofConfined();
                Sae loaded = SaeLens.load(dir)) {
            assertThatThrownBy(() -> loaded.trainStep(TestData.gaussian(arena, 8, 100, 1)))
                    .isInstanceOfSatisfying(
                            BatchTopKException.class,
                            e -> assertThat(e.status()).isEqualTo(Status.SHAPE))
                    .hasMessageContaining("100 columns but 32 are expected");
        }
    }

    @Test
    void adjustmentsMayNotChangeTheShape() throws IOException {
        try (Arena arena = Arena.ofConfined();
                Sae sae = trained(Architecture.TOPK, arena)) {
            SaeLens.saveInference(sae, dir, Map.of());
        }
        assertThatThrownBy(() -> SaeLens.load(dir, b -> b.architecture(Architecture.RELU)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("may not change");
        try (Sae sae = SaeLens.load(dir, b -> b.lr(0.5).path(StepPath.NAIVE))) {
            assertThat(sae.config().lr()).isEqualTo(0.5);
            assertThat(sae.config().path()).isEqualTo(StepPath.NAIVE);
        }
    }
}
