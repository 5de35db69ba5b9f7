package ai.batchtopk;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.batchtopk.bindings.batchtopk_h;
import ai.batchtopk.bindings.btk_config;
import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.RecordComponent;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Java and the native library cannot disagree about a config: for every field of {@code btk_config}
 * and every kind of bad value (NaN, infinities, negative, zero where that is invalid, huge, codes
 * outside the enums), {@code btk_config_validate}, {@code btk_sae_create} and every way Java makes a
 * {@link SaeConfig} (builder, canonical constructor, {@code fromNative}) refuse it with the same
 * message; and the valid edge values are accepted by all of them.
 */
class ConfigValidationAgreementTest {

    private static final long D_IN = 64;
    private static final long D_SAE = 256;
    private static final int K = 32;
    private static final double NAN = Double.NaN;
    private static final double INF = Double.POSITIVE_INFINITY;

    /** Values every field refuses, as the native field's type (a code for an enum). */
    private static final Map<ConfigField, List<Number>> BAD = Map.ofEntries(
            Map.entry(ConfigField.D_IN, List.of(0L, -1L, Long.MIN_VALUE, Long.MAX_VALUE)),
            Map.entry(ConfigField.D_SAE, List.of(0L, -1L, Long.MIN_VALUE, Long.MAX_VALUE)),
            Map.entry(ConfigField.ARCHITECTURE, List.of(-1, 5, Integer.MAX_VALUE)),
            Map.entry(ConfigField.K, List.of(0, -1, Integer.MIN_VALUE, (int) D_SAE + 1, Integer.MAX_VALUE)),
            Map.entry(ConfigField.K_AUX, List.of(-1, Integer.MIN_VALUE)),
            Map.entry(ConfigField.NORMALIZE, List.of(-1, 2, Integer.MIN_VALUE)),
            Map.entry(ConfigField.DEAD_AFTER_TOKENS, List.of(0L, -1L, Long.MIN_VALUE)),
            Map.entry(ConfigField.AUX_COEFF, List.of(NAN, INF, -INF, -1.0, -Double.MIN_VALUE)),
            Map.entry(ConfigField.LR, List.of(NAN, INF, -INF, -1.0, 0.0, -0.0)),
            Map.entry(ConfigField.BETA1, List.of(NAN, INF, -INF, -1.0, 1.0, 1e308)),
            Map.entry(ConfigField.BETA2, List.of(NAN, INF, -INF, -1e-9, 1.0, 1e308)),
            Map.entry(ConfigField.EPS, List.of(NAN, INF, -INF, -1.0, 0.0)),
            Map.entry(ConfigField.MAX_GRAD_NORM, List.of(NAN, INF, -INF)),
            Map.entry(ConfigField.L1_COEFF, List.of(NAN, INF, -INF, -1.0)),
            Map.entry(ConfigField.L0_COEFF, List.of(NAN, INF, -INF, -1.0)),
            Map.entry(ConfigField.JUMPRELU_BANDWIDTH, List.of(NAN, INF, -INF, -1.0, 0.0)),
            Map.entry(ConfigField.JUMPRELU_INIT_THRESHOLD, List.of(NAN, INF, -INF, -1.0, 0.0)),
            Map.entry(ConfigField.THETA_MOMENTUM, List.of(NAN, INF, -INF, -1.0, 0.0, 1.0000001, 1e308)),
            Map.entry(ConfigField.SEED, List.of()),
            Map.entry(
                    ConfigField.DTYPE,
                    List.of(
                            -1,
                            batchtopk_h.BTK_DTYPE_F16(),
                            batchtopk_h.BTK_DTYPE_BF16(),
                            batchtopk_h.BTK_DTYPE_I64(),
                            99)),
            Map.entry(ConfigField.DEVICE, List.of(-1, 2, Integer.MAX_VALUE)),
            Map.entry(ConfigField.PATH, List.of(-1, 2, Integer.MIN_VALUE)),
            // A count of widths (see setRaw), here on a BatchTopK config: widths belong to Matryoshka only.
            Map.entry(ConfigField.MATRYOSHKA_WIDTHS, List.of(1, 3, -1, batchtopk_h.BTK_MAX_MATRYOSHKA_WIDTHS() + 1)));

    /** Values at the edge of each field's range that every side accepts. */
    private static final Map<ConfigField, List<Number>> VALID = Map.ofEntries(
            Map.entry(ConfigField.D_IN, List.of(1L, 2L, 1000L)),
            Map.entry(ConfigField.D_SAE, List.of(1L, (long) K, 1024L)),
            Map.entry(
                    ConfigField.ARCHITECTURE,
                    List.of(
                            batchtopk_h.BTK_ARCH_BATCHTOPK(),
                            batchtopk_h.BTK_ARCH_TOPK(),
                            batchtopk_h.BTK_ARCH_JUMPRELU(),
                            batchtopk_h.BTK_ARCH_RELU())),
            Map.entry(ConfigField.K, List.of(1, (int) D_SAE)),
            Map.entry(ConfigField.K_AUX, List.of(0, Integer.MAX_VALUE)),
            Map.entry(
                    ConfigField.NORMALIZE,
                    List.of(batchtopk_h.BTK_NORMALIZE_NONE(), batchtopk_h.BTK_NORMALIZE_PER_TOKEN())),
            Map.entry(ConfigField.DEAD_AFTER_TOKENS, List.of(1L, Long.MAX_VALUE)),
            Map.entry(ConfigField.AUX_COEFF, List.of(0.0, -0.0, 1e308)),
            Map.entry(ConfigField.LR, List.of(Double.MIN_VALUE, 1e308)),
            Map.entry(ConfigField.BETA1, List.of(0.0, -0.0, Math.nextDown(1.0))),
            Map.entry(ConfigField.BETA2, List.of(0.0, Math.nextDown(1.0))),
            Map.entry(ConfigField.EPS, List.of(Double.MIN_VALUE, 1e308)),
            // <= 0 turns clipping off.
            Map.entry(ConfigField.MAX_GRAD_NORM, List.of(0.0, -1.0, -1e308, 1e308)),
            Map.entry(ConfigField.L1_COEFF, List.of(0.0, 1e308)),
            Map.entry(ConfigField.L0_COEFF, List.of(0.0, 1e308)),
            Map.entry(ConfigField.JUMPRELU_BANDWIDTH, List.of(Double.MIN_VALUE, 1e308)),
            Map.entry(ConfigField.JUMPRELU_INIT_THRESHOLD, List.of(Double.MIN_VALUE, 1e308)),
            Map.entry(ConfigField.THETA_MOMENTUM, List.of(Double.MIN_VALUE, 1.0)),
            Map.entry(ConfigField.SEED, List.of(0L, -1L, Long.MIN_VALUE, Long.MAX_VALUE)),
            Map.entry(ConfigField.DTYPE, List.of(batchtopk_h.BTK_DTYPE_F32(), batchtopk_h.BTK_DTYPE_F64())),
            Map.entry(ConfigField.DEVICE, List.of(batchtopk_h.BTK_DEVICE_CPU())),
            Map.entry(ConfigField.PATH, List.of(batchtopk_h.BTK_PATH_FUSED(), batchtopk_h.BTK_PATH_NAIVE())),
            Map.entry(ConfigField.MATRYOSHKA_WIDTHS, List.of(0)));

    static Stream<Arguments> badValues() {
        return cases(BAD);
    }

    static Stream<Arguments> validValues() {
        return cases(VALID);
    }

    private static Stream<Arguments> cases(Map<ConfigField, List<Number>> values) {
        List<Arguments> out = new ArrayList<>();
        for (ConfigField field : ConfigField.values()) {
            for (Number value : values.get(field)) {
                out.add(Arguments.of(field, value));
            }
        }
        return out.stream();
    }

    @Test
    void everyFieldHasBadAndValidValues() {
        assertThat(BAD.keySet()).containsExactlyInAnyOrder(ConfigField.values());
        assertThat(VALID.keySet()).containsExactlyInAnyOrder(ConfigField.values());
    }

    /** The table covers btk_config, field by field, in the record's order. */
    @Test
    void theFieldTableIsTheHeadersStructAndTheRecord() {
        List<String> structFields = btk_config.layout().memberLayouts().stream()
                .flatMap(layout -> layout.name().stream())
                .filter(name -> !name.equals("reserved"))
                // One entry, a list, stands for the count and the array behind it.
                .filter(name -> !name.equals("matryoshka_count") && !name.equals("matryoshka_reserved"))
                .toList();
        assertThat(Arrays.stream(ConfigField.values())
                        .map(ConfigField::nativeName)
                        .toList())
                .containsExactlyElementsOf(structFields);
        RecordComponent[] components = SaeConfig.class.getRecordComponents();
        assertThat(components).hasSize(ConfigField.values().length);
        SaeConfig distinct = SaeConfig.builder(48, 96)
                .k(5)
                .kAux(7)
                .normalization(Normalization.NONE)
                .deadAfterTokens(1234)
                .auxCoeff(0.5)
                .lr(2e-3)
                .beta1(0.5)
                .beta2(0.75)
                .eps(1e-6)
                .maxGradNorm(1.5)
                .l1Coeff(0.1)
                .l0Coeff(0.2)
                .jumpReluBandwidth(0.05)
                .jumpReluInitThreshold(0.02)
                .thetaMomentum(0.3)
                .seed(77)
                .doublePrecision(true)
                .path(StepPath.NAIVE)
                .build();
        for (ConfigField field : ConfigField.values()) {
            try {
                assertThat(field.get(distinct))
                        .as(field.nativeName())
                        .isEqualTo(components[field.ordinal()].getAccessor().invoke(distinct));
            } catch (ReflectiveOperationException e) {
                throw new AssertionError(e);
            }
        }
    }

    @ParameterizedTest(name = "{0} = {1}")
    @MethodSource("badValues")
    void everySideRefusesABadValueWithTheSameMessage(ConfigField field, Number value) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment c = validNative(arena);
            setRaw(c, field, value);

            int rc = batchtopk_h.btk_config_validate(c);
            String message = lastError();
            assertThat(rc).as("btk_config_validate: %s", message).isEqualTo(batchtopk_h.BTK_ERR_INVALID_ARGUMENT());
            assertThat(message).contains(nameInMessage(field));

            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            assertThat(batchtopk_h.btk_sae_create(c, out)).isEqualTo(batchtopk_h.BTK_ERR_INVALID_ARGUMENT());
            assertThat(lastError()).isEqualTo(message);
            assertThat(out.get(ValueLayout.ADDRESS, 0)).isEqualTo(MemorySegment.NULL);

            assertThatThrownBy(() -> SaeConfig.fromNative(c))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessage(message);
            javaValue(field, value).ifPresent(v -> {
                assertThatThrownBy(() -> withField(field, v).build())
                        .as("builder")
                        .isInstanceOf(IllegalArgumentException.class)
                        .hasMessage(message);
                assertThatThrownBy(() -> construct(field, v))
                        .as("canonical constructor")
                        .isInstanceOf(IllegalArgumentException.class)
                        .hasMessage(message);
            });
        }
    }

    @ParameterizedTest(name = "{0} = {1}")
    @MethodSource("validValues")
    void everySideAcceptsAValidEdgeValue(ConfigField field, Number value) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment c = validNative(arena);
            setRaw(c, field, value);
            assertThat(batchtopk_h.btk_config_validate(c)).as("%s", lastError()).isEqualTo(batchtopk_h.BTK_OK());
            assertThat(lastError()).isEmpty();

            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            assertThat(batchtopk_h.btk_sae_create(c, out)).as("%s", lastError()).isEqualTo(batchtopk_h.BTK_OK());
            batchtopk_h.btk_sae_destroy(out.get(ValueLayout.ADDRESS, 0));

            SaeConfig fromNative = SaeConfig.fromNative(c);
            assertThat(fromNative.toBuilder().build()).isEqualTo(fromNative);
            javaValue(field, value).ifPresent(v -> {
                assertThat(field.get(withField(field, v).build())).isEqualTo(v);
                assertThat(field.get(construct(field, v))).isEqualTo(v);
            });
        }
    }

    /** A config this build accepts but cannot run: valid everywhere, refused by create for its device. */
    @Test
    void cudaIsAValidConfigThatOnlyCreationRefusesWithoutCuda() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment c = validNative(arena);
            btk_config.device(c, batchtopk_h.BTK_DEVICE_CUDA());
            assertThat(batchtopk_h.btk_config_validate(c)).isEqualTo(batchtopk_h.BTK_OK());
            assertThat(SaeConfig.fromNative(c).device()).isEqualTo(Device.CUDA);
            if (!NativeLibrary.cudaAvailable()) {
                MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
                assertThat(batchtopk_h.btk_sae_create(c, out)).isEqualTo(batchtopk_h.BTK_ERR_DEVICE());
                // A CPU-only build, or a CUDA build on a machine without a device.
                assertThat(lastError()).containsAnyOf("CPU code paths only", "there is no CUDA device");
            }
        }
    }

    @Test
    void aNullPointerIsRefusedByName() {
        NativeLibrary.load();
        assertThat(batchtopk_h.btk_config_validate(MemorySegment.NULL))
                .isEqualTo(batchtopk_h.BTK_ERR_INVALID_ARGUMENT());
        assertThat(lastError()).isEqualTo("cfg is NULL");
    }

    private static MemorySegment validNative(Arena arena) {
        return SaeConfig.builder(D_IN, D_SAE).k(K).build().toNative(arena);
    }

    /**
     * Writes a raw value (an enum's code, the dtype code) into the native field, and keeps the fields that
     * depend on it valid: d_in = 1 needs normalisation off, a d_sae below k needs a smaller k.
     */
    private static void setRaw(MemorySegment c, ConfigField field, Number value) {
        if (field == ConfigField.MATRYOSHKA_WIDTHS) {
            btk_config.matryoshka_count(c, value.intValue());
            List<Long> widths = widths(value.intValue());
            for (int i = 0; i < Math.min(widths.size(), batchtopk_h.BTK_MAX_MATRYOSHKA_WIDTHS()); i++) {
                btk_config.matryoshka_widths(c, i, widths.get(i));
            }
            return;
        }
        VarHandle handle = btk_config.layout().varHandle(MemoryLayout.PathElement.groupElement(field.nativeName()));
        Class<?> type = handle.varType();
        if (type == long.class) {
            handle.set(c, 0L, value.longValue());
        } else if (type == int.class) {
            handle.set(c, 0L, value.intValue());
        } else {
            handle.set(c, 0L, value.doubleValue());
        }
        if (field == ConfigField.D_IN && value.longValue() == 1) {
            btk_config.normalize(c, batchtopk_h.BTK_NORMALIZE_NONE());
        }
        if (field == ConfigField.D_SAE && value.longValue() < K) {
            btk_config.k(c, 1);
        }
    }

    /** {@code n} strictly increasing widths ending at d_sae (none for n <= 0). */
    private static List<Long> widths(int n) {
        List<Long> widths = new ArrayList<>();
        for (int i = 1; i <= n; i++) {
            widths.add(i * D_SAE / n);
        }
        return widths;
    }

    /** The value as the record holds it, where Java can express it at all (not an unknown code). */
    private static java.util.Optional<Object> javaValue(ConfigField field, Number value) {
        try {
            return java.util.Optional.of(
                    switch (field) {
                        case ARCHITECTURE -> Architecture.fromCode(value.intValue());
                        case NORMALIZE -> Normalization.fromCode(value.intValue());
                        case DEVICE -> Device.fromCode(value.intValue());
                        case PATH -> StepPath.fromCode(value.intValue());
                        case DTYPE -> {
                            if (value.intValue() == batchtopk_h.BTK_DTYPE_F32()) yield false;
                            if (value.intValue() == batchtopk_h.BTK_DTYPE_F64()) yield true;
                            throw new IllegalArgumentException("no Java value for dtype " + value);
                        }
                        case MATRYOSHKA_WIDTHS -> {
                            if (value.intValue() < 0) {
                                throw new IllegalArgumentException("no Java list has " + value + " elements");
                            }
                            yield widths(value.intValue());
                        }
                        default -> value;
                    });
        } catch (IllegalArgumentException e) {
            return java.util.Optional.empty();
        }
    }

    /** A builder with one field set, through the table, and the fields depending on it kept valid. */
    private static SaeConfig.Builder withField(ConfigField field, Object value) {
        SaeConfig.Builder builder = SaeConfig.builder(D_IN, D_SAE).k(K);
        if (field == ConfigField.D_IN && value.equals(1L)) {
            builder.normalization(Normalization.NONE);
        }
        if (field == ConfigField.D_SAE && (Long) value < K) {
            builder.k(1);
        }
        return builder.set(field, value);
    }

    /** {@code new SaeConfig(...)} with one field changed, through the record's canonical constructor. */
    private static SaeConfig construct(ConfigField field, Object value) {
        Object[] values =
                ConfigField.valuesOf(SaeConfig.builder(D_IN, D_SAE).k(K).build());
        values[field.ordinal()] = value;
        if (field == ConfigField.D_IN && value.equals(1L)) {
            values[ConfigField.NORMALIZE.ordinal()] = Normalization.NONE;
        }
        if (field == ConfigField.D_SAE && (Long) value < K) {
            values[ConfigField.K.ordinal()] = 1;
        }
        Class<?>[] types = Arrays.stream(SaeConfig.class.getRecordComponents())
                .map(RecordComponent::getType)
                .toArray(Class<?>[]::new);
        try {
            return SaeConfig.class.getDeclaredConstructor(types).newInstance(values);
        } catch (InvocationTargetException e) {
            if (e.getCause() instanceof RuntimeException runtime) {
                throw runtime;
            }
            throw new AssertionError(e);
        } catch (ReflectiveOperationException e) {
            throw new AssertionError(e);
        }
    }

    /** How the native message names a field: by its own name, or by what is wrong with its code. */
    private static String nameInMessage(ConfigField field) {
        return switch (field) {
            case ARCHITECTURE -> "architecture code";
            case MATRYOSHKA_WIDTHS -> "matryoshka widths";
            case NORMALIZE -> "normalisation code";
            case DTYPE -> "dtype";
            case DEVICE -> "device code";
            case PATH -> "path code";
            default -> field.nativeName();
        };
    }

    private static String lastError() {
        return batchtopk_h.btk_last_error().reinterpret(Long.MAX_VALUE).getString(0);
    }
}
