package ai.batchtopk;

import ai.batchtopk.bindings.batchtopk_h;
import ai.batchtopk.bindings.btk_config;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.reflect.RecordComponent;
import java.util.Arrays;
import java.util.List;
import java.util.function.BiConsumer;
import java.util.function.Function;

/**
 * The one list of {@link SaeConfig}'s fields: for each, in the record's order, its name in
 * {@code btk_config}, how to read it from a config, and how it crosses the native boundary. Copying
 * to and from native memory, {@link SaeConfig#toBuilder()} and the builder all walk this list, and
 * validation is the native library's ({@code btk_config_validate}) alone.
 */
enum ConfigField {
    D_IN("d_in", SaeConfig::dIn, btk_config::d_in, (c, v) -> btk_config.d_in(c, (long) v)),
    D_SAE("d_sae", SaeConfig::dSae, btk_config::d_sae, (c, v) -> btk_config.d_sae(c, (long) v)),
    ARCHITECTURE(
            "architecture",
            SaeConfig::architecture,
            c -> Architecture.fromCode(btk_config.architecture(c)),
            (c, v) -> btk_config.architecture(c, ((Architecture) v).code())),
    K("k", SaeConfig::k, btk_config::k, (c, v) -> btk_config.k(c, (int) v)),
    K_AUX("k_aux", SaeConfig::kAux, btk_config::k_aux, (c, v) -> btk_config.k_aux(c, (int) v)),
    NORMALIZE(
            "normalize",
            SaeConfig::normalization,
            c -> Normalization.fromCode(btk_config.normalize(c)),
            (c, v) -> btk_config.normalize(c, ((Normalization) v).code())),
    DEAD_AFTER_TOKENS(
            "dead_after_tokens",
            SaeConfig::deadAfterTokens,
            btk_config::dead_after_tokens,
            (c, v) -> btk_config.dead_after_tokens(c, (long) v)),
    AUX_COEFF("aux_coeff", SaeConfig::auxCoeff, btk_config::aux_coeff, (c, v) -> btk_config.aux_coeff(c, (double) v)),
    LR("lr", SaeConfig::lr, btk_config::lr, (c, v) -> btk_config.lr(c, (double) v)),
    BETA1("beta1", SaeConfig::beta1, btk_config::beta1, (c, v) -> btk_config.beta1(c, (double) v)),
    BETA2("beta2", SaeConfig::beta2, btk_config::beta2, (c, v) -> btk_config.beta2(c, (double) v)),
    EPS("eps", SaeConfig::eps, btk_config::eps, (c, v) -> btk_config.eps(c, (double) v)),
    MAX_GRAD_NORM(
            "max_grad_norm",
            SaeConfig::maxGradNorm,
            btk_config::max_grad_norm,
            (c, v) -> btk_config.max_grad_norm(c, (double) v)),
    L1_COEFF("l1_coeff", SaeConfig::l1Coeff, btk_config::l1_coeff, (c, v) -> btk_config.l1_coeff(c, (double) v)),
    L0_COEFF("l0_coeff", SaeConfig::l0Coeff, btk_config::l0_coeff, (c, v) -> btk_config.l0_coeff(c, (double) v)),
    JUMPRELU_BANDWIDTH(
            "jumprelu_bandwidth",
            SaeConfig::jumpReluBandwidth,
            btk_config::jumprelu_bandwidth,
            (c, v) -> btk_config.jumprelu_bandwidth(c, (double) v)),
    JUMPRELU_INIT_THRESHOLD(
            "jumprelu_init_threshold",
            SaeConfig::jumpReluInitThreshold,
            btk_config::jumprelu_init_threshold,
            (c, v) -> btk_config.jumprelu_init_threshold(c, (double) v)),
    THETA_MOMENTUM(
            "theta_momentum",
            SaeConfig::thetaMomentum,
            btk_config::theta_momentum,
            (c, v) -> btk_config.theta_momentum(c, (double) v)),
    SEED("seed", SaeConfig::seed, btk_config::seed, (c, v) -> btk_config.seed(c, (long) v)),
    // Java offers the two parameter types the native library accepts as a flag.
    DTYPE(
            "dtype",
            SaeConfig::doublePrecision,
            c -> btk_config.dtype(c) == batchtopk_h.BTK_DTYPE_F64(),
            (c, v) -> btk_config.dtype(c, (boolean) v ? batchtopk_h.BTK_DTYPE_F64() : batchtopk_h.BTK_DTYPE_F32())),
    DEVICE(
            "device",
            SaeConfig::device,
            c -> Device.fromCode(btk_config.device(c)),
            (c, v) -> btk_config.device(c, ((Device) v).code())),
    PATH(
            "path",
            SaeConfig::path,
            c -> StepPath.fromCode(btk_config.path(c)),
            (c, v) -> btk_config.path(c, ((StepPath) v).code())),
    // One Java list for the count and the fixed-size array behind it.
    MATRYOSHKA_WIDTHS(
            "matryoshka_widths", SaeConfig::matryoshkaWidths, ConfigField::readWidths, ConfigField::writeWidths);

    private static final ConfigField[] ALL = values();
    private static final MethodHandle CANONICAL_CONSTRUCTOR = canonicalConstructor();

    private final String nativeName;
    private final Function<SaeConfig, Object> getter;
    private final Function<MemorySegment, Object> reader;
    private final BiConsumer<MemorySegment, Object> writer;

    ConfigField(
            String nativeName,
            Function<SaeConfig, Object> getter,
            Function<MemorySegment, Object> reader,
            BiConsumer<MemorySegment, Object> writer) {
        this.nativeName = nativeName;
        this.getter = getter;
        this.reader = reader;
        this.writer = writer;
    }

    /** The field's name in {@code btk_config}. */
    String nativeName() {
        return nativeName;
    }

    Object get(SaeConfig config) {
        return getter.apply(config);
    }

    void write(MemorySegment nativeConfig, Object value) {
        writer.accept(nativeConfig, value);
    }

    /** A new {@code btk_config} holding the values, one per field in this enum's order. */
    static MemorySegment toNative(Object[] values, SegmentAllocator allocator) {
        MemorySegment c = btk_config.allocate(allocator);
        c.fill((byte) 0); // reserved stays zero
        for (ConfigField field : ALL) {
            field.write(c, values[field.ordinal()]);
        }
        return c;
    }

    /** Every field of the config, in this enum's (the record's) order. */
    static Object[] valuesOf(SaeConfig config) {
        return Arrays.stream(ALL).map(field -> field.get(config)).toArray();
    }

    /**
     * Throws, with the native library's message, unless {@code btk_config_validate} accepts the values
     * (given in this enum's order).
     *
     * @throws IllegalArgumentException naming the first invalid field and its value
     */
    static void validate(Object... values) {
        NativeLibrary.load();
        try (Arena arena = Arena.ofConfined()) {
            validate(toNative(values, arena));
        }
    }

    /** Throws, with the native library's message, unless {@code btk_config_validate} accepts it. */
    static void validate(MemorySegment nativeConfig) {
        int rc = batchtopk_h.btk_config_validate(nativeConfig);
        if (rc != batchtopk_h.BTK_OK()) {
            try {
                BatchTopKException.check(rc, "btk_config_validate");
            } catch (BatchTopKException e) {
                throw new IllegalArgumentException(e.nativeMessage(), e);
            }
        }
    }

    /** The config a {@code btk_config} holds, checked by the native library before it is read. */
    static SaeConfig fromNative(MemorySegment nativeConfig) {
        validate(nativeConfig);
        Object[] values = Arrays.stream(ALL)
                .map(field -> field.reader.apply(nativeConfig))
                .toArray();
        try {
            return (SaeConfig) CANONICAL_CONSTRUCTOR.invokeWithArguments(values);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    /** The widths a {@code btk_config} holds; a count out of range reads as none, which validation refuses. */
    private static List<Long> readWidths(MemorySegment c) {
        int count = btk_config.matryoshka_count(c);
        if (count < 0 || count > batchtopk_h.BTK_MAX_MATRYOSHKA_WIDTHS()) {
            throw new IllegalArgumentException("matryoshka_count " + count + " is out of range [0, "
                    + batchtopk_h.BTK_MAX_MATRYOSHKA_WIDTHS() + "]");
        }
        Long[] widths = new Long[count];
        for (int i = 0; i < count; i++) {
            widths[i] = btk_config.matryoshka_widths(c, i);
        }
        return List.of(widths);
    }

    /** Writes the count and the widths; more than the array holds is written as that count, which validation refuses. */
    @SuppressWarnings("unchecked")
    private static void writeWidths(MemorySegment c, Object value) {
        List<Long> widths = (List<Long>) value;
        btk_config.matryoshka_count(c, widths.size());
        for (int i = 0; i < Math.min(widths.size(), batchtopk_h.BTK_MAX_MATRYOSHKA_WIDTHS()); i++) {
            btk_config.matryoshka_widths(c, i, widths.get(i));
        }
    }

    private static MethodHandle canonicalConstructor() {
        RecordComponent[] components = SaeConfig.class.getRecordComponents();
        Class<?>[] types =
                Arrays.stream(components).map(RecordComponent::getType).toArray(Class<?>[]::new);
        try {
            return MethodHandles.lookup().findConstructor(SaeConfig.class, MethodType.methodType(void.class, types));
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("SaeConfig has no canonical constructor", e);
        }
    }
}
