package ai.batchtopk;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.batchtopk.bindings.batchtopk_h;
import ai.batchtopk.bindings.btk_config;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class SaeConfigTest {

    @Test
    void defaultsComeFromTheNativeLibrary() {
        SaeConfig c = SaeConfig.builder(64, 512).build();
        assertThat(c.architecture()).isEqualTo(Architecture.BATCHTOPK);
        assertThat(c.k()).isEqualTo(32);
        assertThat(c.kAux()).isEqualTo(512);
        assertThat(c.normalization()).isEqualTo(Normalization.PER_TOKEN);
        assertThat(c.deadAfterTokens()).isEqualTo(5 * 4096);
        assertThat(c.auxCoeff()).isEqualTo(1.0 / 32);
        assertThat(c.lr()).isEqualTo(3e-4);
        assertThat(c.beta1()).isEqualTo(0.9);
        assertThat(c.beta2()).isEqualTo(0.99);
        assertThat(c.eps()).isEqualTo(1e-8);
        assertThat(c.maxGradNorm()).isEqualTo(1e5);
        assertThat(c.thetaMomentum()).isEqualTo(0.01);
        assertThat(c.seed()).isEqualTo(42);
        assertThat(c.doublePrecision()).isFalse();
        assertThat(c.device()).isEqualTo(Device.CPU);
        assertThat(c.path()).isEqualTo(StepPath.FUSED);
    }

    @Test
    void defaultKIsCappedByTheDictionarySize() {
        assertThat(SaeConfig.builder(8, 16).build().k()).isEqualTo(16);
    }

    @Test
    void explicitValuesWinOverDefaults() {
        SaeConfig c = SaeConfig.builder(64, 512)
                .architecture(Architecture.TOPK)
                .k(12)
                .lr(1e-3)
                .seed(-1)
                .doublePrecision(true)
                .path(StepPath.NAIVE)
                .build();
        assertThat(c.architecture()).isEqualTo(Architecture.TOPK);
        assertThat(c.k()).isEqualTo(12);
        assertThat(c.lr()).isEqualTo(1e-3);
        assertThat(c.seed()).isEqualTo(-1);
        assertThat(c.doublePrecision()).isTrue();
        assertThat(c.path()).isEqualTo(StepPath.NAIVE);
    }

    @Test
    void kAboveTheDictionarySizeIsRejected() {
        assertThatThrownBy(() -> SaeConfig.builder(64, 32).k(40).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("k = 40 exceeds d_sae = 32");
        SaeConfig ok = SaeConfig.builder(64, 32).k(32).build();
        assertThatThrownBy(() -> ok.toBuilder().k(33).build()).hasMessage("k = 33 exceeds d_sae = 32");
    }

    @Test
    void kIsOnlyCheckedAgainstTheDictionaryWhereItIsUsed() {
        SaeConfig relu =
                SaeConfig.builder(64, 32).architecture(Architecture.RELU).k(40).build();
        assertThat(relu.k()).isEqualTo(40);
    }

    @ParameterizedTest
    @EnumSource(Invalid.class)
    void invalidFieldsAreNamed(Invalid invalid) {
        SaeConfig.Builder b = SaeConfig.builder(64, 256);
        assertThatThrownBy(() -> invalid.change.apply(b).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith(invalid.message);
    }

    enum Invalid {
        K_ZERO(b -> b.k(0), "k must be positive, got 0"),
        K_AUX(b -> b.kAux(-1), "k_aux must not be negative"),
        DEAD_AFTER(b -> b.deadAfterTokens(0), "dead_after_tokens must be positive, got 0"),
        AUX_COEFF(b -> b.auxCoeff(Double.NaN), "aux_coeff must be finite and >= 0"),
        LR_ZERO(b -> b.lr(0), "lr must be finite and positive, got 0"),
        LR_INFINITE(b -> b.lr(Double.POSITIVE_INFINITY), "lr must be finite and positive, got inf"),
        BETA1(b -> b.beta1(1.0), "beta1 must be in [0, 1), got 1"),
        BETA2(b -> b.beta2(-0.1), "beta2 must be in [0, 1), got -0.1"),
        EPS(b -> b.eps(0), "eps must be finite and positive"),
        MAX_GRAD_NORM(b -> b.maxGradNorm(Double.NaN), "max_grad_norm must be finite"),
        MAX_GRAD_NORM_INFINITE(
                b -> b.maxGradNorm(Double.POSITIVE_INFINITY),
                "max_grad_norm must be finite (<= 0 disables clipping), got inf"),
        L1(b -> b.l1Coeff(-1), "l1_coeff must be finite and >= 0"),
        L0(b -> b.l0Coeff(Double.POSITIVE_INFINITY), "l0_coeff must be finite and >= 0"),
        BANDWIDTH(b -> b.jumpReluBandwidth(0), "jumprelu_bandwidth must be finite and positive"),
        THRESHOLD(b -> b.jumpReluInitThreshold(-1e-3), "jumprelu_init_threshold must be finite and positive"),
        THETA_MOMENTUM(b -> b.thetaMomentum(0), "theta_momentum must be in (0, 1], got 0");

        final UnaryOperator<SaeConfig.Builder> change;
        final String message;

        Invalid(UnaryOperator<SaeConfig.Builder> change, String message) {
            this.change = change;
            this.message = message;
        }
    }

    @ParameterizedTest
    @EnumSource(BadWidths.class)
    void badMatryoshkaWidthsAreRefusedInJavaAndNativeCodeAlike(BadWidths bad) {
        SaeConfig.Builder b =
                SaeConfig.builder(64, 256).architecture(bad.architecture).k(8).matryoshkaWidths(bad.widths);
        assertThatThrownBy(b::build)
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage(bad.message);
        // The same widths written straight into a btk_config of a valid config.
        SaeConfig valid = SaeConfig.builder(64, 256)
                .architecture(Architecture.MATRYOSHKA_BATCHTOPK)
                .k(8)
                .matryoshkaWidths(List.of(64L, 256L))
                .build();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment c = valid.toNative(arena);
            btk_config.architecture(c, bad.architecture.code());
            btk_config.matryoshka_count(c, bad.widths.size());
            for (int i = 0; i < bad.widths.size(); i++) {
                btk_config.matryoshka_widths(c, i, bad.widths.get(i));
            }
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            assertThat(batchtopk_h.btk_sae_create(c, out)).isEqualTo(batchtopk_h.BTK_ERR_INVALID_ARGUMENT());
            String nativeMessage =
                    batchtopk_h.btk_last_error().reinterpret(Long.MAX_VALUE).getString(0);
            assertThat(nativeMessage).isEqualTo(bad.message);
        }
    }

    enum BadWidths {
        REPEATED(
                List.of(64L, 64L, 256L),
                "matryoshka widths must be positive and strictly increasing, but width 2 is 64 after 64"),
        DECREASING(
                List.of(128L, 64L, 256L),
                "matryoshka widths must be positive and strictly increasing, but width 2 is 64 after 128"),
        NOT_POSITIVE(List.of(0L, 256L), "matryoshka widths must be positive and strictly increasing, but width 1 is 0"),
        SHORT_OF_D_SAE(List.of(64L, 128L), "the last matryoshka width must equal d_sae = 256, got 128"),
        PAST_D_SAE(List.of(64L, 512L), "the last matryoshka width must equal d_sae = 256, got 512"),
        NONE(List.of(), "Matryoshka BatchTopK needs 1 to 64 matryoshka widths, got 0"),
        OTHER_ARCHITECTURE(
                Architecture.BATCHTOPK,
                List.of(64L, 256L),
                "matryoshka widths apply to the Matryoshka BatchTopK architecture only; this config (architecture code 0)"
                        + " has 2");

        final Architecture architecture;
        final List<Long> widths;
        final String message;

        BadWidths(List<Long> widths, String message) {
            this(Architecture.MATRYOSHKA_BATCHTOPK, widths, message);
        }

        BadWidths(Architecture architecture, List<Long> widths, String message) {
            this.architecture = architecture;
            this.widths = widths;
            this.message = message;
        }
    }

    @Test
    void shapeMustBePositive() {
        assertThatThrownBy(() -> SaeConfig.builder(0, 256).build()).hasMessage("d_in must be positive, got 0");
        assertThatThrownBy(() -> SaeConfig.builder(64, -3).build()).hasMessage("d_sae must be positive, got -3");
    }

    @ParameterizedTest
    @EnumSource(Architecture.class)
    void nativeRoundTripKeepsEveryField(Architecture architecture) {
        SaeConfig c = SaeConfig.builder(48, 96)
                .architecture(architecture)
                .k(5)
                .kAux(7)
                .normalization(Normalization.NONE)
                .deadAfterTokens(1234)
                .auxCoeff(0.5)
                .lr(2e-3)
                .beta1(0.5)
                .beta2(0.75)
                .eps(1e-6)
                .maxGradNorm(1.0)
                .l1Coeff(0.1)
                .l0Coeff(0.2)
                .jumpReluBandwidth(0.05)
                .jumpReluInitThreshold(0.02)
                .thetaMomentum(0.3)
                .seed(Long.MIN_VALUE)
                .doublePrecision(true)
                .path(StepPath.NAIVE)
                .matryoshkaWidths(
                        architecture == Architecture.MATRYOSHKA_BATCHTOPK ? List.of(16L, 48L, 96L) : List.of())
                .build();
        try (Arena arena = Arena.ofConfined()) {
            assertThat(SaeConfig.fromNative(c.toNative(arena))).isEqualTo(c);
        }
        assertThat(ConfigJson.fromJson(ConfigJson.toJson(c))).isEqualTo(c);
        assertThat(ConfigJson.fromJson(
                        ai.batchtopk.io.JsonCodec.parseTree(ai.batchtopk.io.JsonCodec.write(ConfigJson.toJson(c)))))
                .isEqualTo(c);
        assertThat(c.toBuilder().build()).isEqualTo(c);
    }

    @Test
    void jsonNamesTheBadKey() {
        var json = ConfigJson.toJson(SaeConfig.builder(8, 16).build());
        json.put("lr", "fast");
        assertThatThrownBy(() -> ConfigJson.fromJson(json)).hasMessage("'lr' must be a number, got \"fast\"");
        json.put("lr", 1e-3);
        json.put("k", 2.5);
        assertThatThrownBy(() -> ConfigJson.fromJson(json)).hasMessage("'k' must be an integer, got 2.5");
        json.put("k", 4);
        json.put("dtype", "float16");
        assertThatThrownBy(() -> ConfigJson.fromJson(json))
                .hasMessage("'dtype': dtype must be \"float32\" or \"float64\", got \"float16\"");
        json.put("dtype", "float64");
        json.put("k", 17);
        assertThatThrownBy(() -> ConfigJson.fromJson(json)).hasMessageContaining("k");
        json.put("k", 4);
        json.put("device", "tpu");
        assertThatThrownBy(() -> ConfigJson.fromJson(json))
                .hasMessage("'device' must be one of \"cpu\", \"cuda\", got \"tpu\"");
        json.put("device", "CPU");
        assertThat(ConfigJson.fromJson(json).device()).isEqualTo(Device.CPU);
        json.put("format_version", 2);
        assertThatThrownBy(() -> ConfigJson.fromJson(json)).hasMessageContaining("format_version 2 is newer");
        json.put("format_version", 1);
        json.put("architecture", "gated");
        assertThatThrownBy(() -> ConfigJson.fromJson(json))
                .hasMessage(
                        "'architecture' must be one of \"batchtopk\", \"topk\", \"jumprelu\", \"relu\", \"matryoshka-batchtopk\", got \"gated\"");
        json.remove("architecture");
        assertThatThrownBy(() -> ConfigJson.fromJson(json)).hasMessage("missing key 'architecture'");
    }

    @Test
    void jsonKeysAreTheRecordComponentsInSnakeCaseInOrder() {
        var json = ConfigJson.toJson(SaeConfig.builder(8, 16).build());
        var names = new java.util.ArrayList<String>();
        json.fieldNames().forEachRemaining(names::add);
        assertThat(names)
                .containsExactly(
                        "format_version",
                        "d_in",
                        "d_sae",
                        "architecture",
                        "k",
                        "k_aux",
                        "normalization",
                        "dead_after_tokens",
                        "aux_coeff",
                        "lr",
                        "beta1",
                        "beta2",
                        "eps",
                        "max_grad_norm",
                        "l1_coeff",
                        "l0_coeff",
                        "jumprelu_bandwidth",
                        "jumprelu_init_threshold",
                        "theta_momentum",
                        "seed",
                        "dtype",
                        "device",
                        "path");
        // matryoshka_widths is written for Matryoshka BatchTopK only.
        assertThat(names).hasSize(SaeConfig.class.getRecordComponents().length);
        var matryoshka = ConfigJson.toJson(SaeConfig.builder(8, 16)
                .architecture(Architecture.MATRYOSHKA_BATCHTOPK)
                .matryoshkaWidths(java.util.List.of(4L, 16L))
                .build());
        var last = new java.util.ArrayList<String>();
        matryoshka.fieldNames().forEachRemaining(last::add);
        assertThat(last.getLast()).isEqualTo("matryoshka_widths");
    }

    @Test
    void missingJsonKeysTakeTheNativeDefaultsForTheShapeArchitectureAndK() {
        var json = ai.batchtopk.io.JsonCodec.parseTree(
                "{\"d_in\":8,\"d_sae\":16,\"architecture\":\"topk\",\"k\":3," + "\"lr\":null,\"unknown\":[1]}");
        assertThat(ConfigJson.fromJson(json))
                .isEqualTo(SaeConfig.builder(8, 16)
                        .architecture(Architecture.TOPK)
                        .k(3)
                        .build());
    }

    @Test
    void enumCodesAreTheHeaderConstants() {
        assertThat(Architecture.BATCHTOPK.code()).isEqualTo(batchtopk_h.BTK_ARCH_BATCHTOPK());
        assertThat(Architecture.RELU.code()).isEqualTo(batchtopk_h.BTK_ARCH_RELU());
        assertThat(Architecture.fromCliName("JumpReLU")).isEqualTo(Architecture.JUMPRELU);
        assertThat(Normalization.fromCliName("per-token")).isEqualTo(Normalization.PER_TOKEN);
        assertThat(Status.of(batchtopk_h.BTK_ERR_NON_FINITE())).isEqualTo(Status.NON_FINITE);
        assertThat(Status.of(99)).isEqualTo(Status.INTERNAL);
    }

    @Test
    void perTokenNormalisationNeedsTwoValuesPerRow() {
        assertThatThrownBy(() -> SaeConfig.builder(1, 16).k(4).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("normalization per-token needs d_in >= 2, got d_in = 1")
                .hasMessageContaining("use normalization none");
        assertThat(SaeConfig.builder(1, 16)
                        .k(4)
                        .normalization(Normalization.NONE)
                        .build()
                        .dIn())
                .isEqualTo(1);
        assertThat(SaeConfig.builder(2, 16).k(4).build().normalization()).isEqualTo(Normalization.PER_TOKEN);
    }
}
