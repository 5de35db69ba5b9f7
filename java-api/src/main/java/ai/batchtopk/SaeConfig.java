package ai.batchtopk;

import ai.batchtopk.bindings.batchtopk_h;
import ai.batchtopk.bindings.btk_config;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Everything that defines an SAE and how it trains: shape, architecture, loss weights, optimizer,
 * seed, precision, device and step implementation. The Java twin of the native {@code btk_config}.
 *
 * <p>The compact constructor has the native library check every field ({@code btk_config_validate},
 * the one set of rules) and throws its message, which names the field that is wrong, so mistakes
 * surface at the line that made them rather than inside a later downcall. Build one with
 * {@link #builder(long, long)}: unset fields take the native library's defaults
 * ({@code btk_config_defaults}), so Java and C++ cannot disagree about those either. The fields are
 * listed once more, with how each crosses the native boundary, in {@link ConfigField}.
 *
 * @param dIn width of the activations, d
 * @param dSae number of latents, F
 * @param architecture sparsity rule
 * @param k active latents per token (BatchTopK: on average); used by BatchTopK and TopK
 * @param kAux dead latents the AuxK loss uses per token; 0 disables AuxK
 * @param normalization input normalisation
 * @param deadAfterTokens a latent not selected for this many tokens counts as dead
 * @param auxCoeff weight of the AuxK loss
 * @param lr Adam learning rate
 * @param beta1 Adam beta1, in [0, 1)
 * @param beta2 Adam beta2, in [0, 1)
 * @param eps Adam epsilon
 * @param maxGradNorm global gradient-norm clipping; {@code <= 0} disables it
 * @param l1Coeff ReLU: weight of the L1 penalty
 * @param l0Coeff JumpReLU: weight of the L0 penalty
 * @param jumpReluBandwidth JumpReLU: width of the straight-through rectangle kernel
 * @param jumpReluInitThreshold JumpReLU: initial threshold
 * @param thetaMomentum BatchTopK: EMA weight of each batch's smallest selected activation, in (0, 1]
 * @param seed initialisation seed (an unsigned 64-bit value in native code)
 * @param doublePrecision parameters in F64 instead of F32 (for exactness checks)
 * @param device where parameters live
 * @param path which implementation runs the step
 * @param matryoshkaWidths Matryoshka BatchTopK: the cumulative prefix widths, strictly increasing, the last
 *     equal to d_sae (SAELens's {@code matryoshka_widths}); empty for every other architecture
 */
public record SaeConfig(
        long dIn,
        long dSae,
        Architecture architecture,
        int k,
        int kAux,
        Normalization normalization,
        long deadAfterTokens,
        double auxCoeff,
        double lr,
        double beta1,
        double beta2,
        double eps,
        double maxGradNorm,
        double l1Coeff,
        double l0Coeff,
        double jumpReluBandwidth,
        double jumpReluInitThreshold,
        double thetaMomentum,
        long seed,
        boolean doublePrecision,
        Device device,
        StepPath path,
        List<Long> matryoshkaWidths) {

    /**
     * k when the builder is not given one: 32, the usual choice in the BatchTopK paper, or d_sae if
     * that is smaller. The native library takes k as an input of its defaults, not as one of them.
     */
    public static final int DEFAULT_K = 32;

    /** @throws IllegalArgumentException with the native library's message, naming the first invalid field */
    public SaeConfig {
        Objects.requireNonNull(architecture, "architecture");
        Objects.requireNonNull(normalization, "normalization");
        Objects.requireNonNull(device, "device");
        Objects.requireNonNull(path, "path");
        matryoshkaWidths = List.copyOf(Objects.requireNonNull(matryoshkaWidths, "matryoshkaWidths"));
        // In the record's (and ConfigField's) order.
        ConfigField.validate(
                dIn,
                dSae,
                architecture,
                k,
                kAux,
                normalization,
                deadAfterTokens,
                auxCoeff,
                lr,
                beta1,
                beta2,
                eps,
                maxGradNorm,
                l1Coeff,
                l0Coeff,
                jumpReluBandwidth,
                jumpReluInitThreshold,
                thetaMomentum,
                seed,
                doublePrecision,
                device,
                path,
                matryoshkaWidths);
    }

    /** A builder whose unset fields take the native defaults for this shape, architecture and k. */
    public static Builder builder(long dIn, long dSae) {
        return new Builder(dIn, dSae);
    }

    /** A builder holding every field of this config, to derive a changed copy. */
    public Builder toBuilder() {
        Builder builder = new Builder(dIn, dSae);
        for (ConfigField field : ConfigField.values()) {
            builder.given.put(field, field.get(this));
        }
        return builder;
    }

    /** A new native {@code btk_config} holding this config. */
    public MemorySegment toNative(SegmentAllocator allocator) {
        return ConfigField.toNative(ConfigField.valuesOf(this), allocator);
    }

    /**
     * The config a native {@code btk_config} holds.
     *
     * @throws IllegalArgumentException with the native library's message, naming the first invalid field
     */
    public static SaeConfig fromNative(MemorySegment c) {
        return ConfigField.fromNative(c);
    }

    /**
     * Collects the fields a caller cares about; {@link #build()} fills the rest from
     * {@code btk_config_defaults(d_in, d_sae, architecture, k)}, whose answers may depend on the
     * architecture and k (so they are asked for only once those are known).
     */
    public static final class Builder {
        private final long dIn;
        private final long dSae;
        private final Map<ConfigField, Object> given = new EnumMap<>(ConfigField.class);

        private Builder(long dIn, long dSae) {
            this.dIn = dIn;
            this.dSae = dSae;
            given.put(ConfigField.D_IN, dIn);
            given.put(ConfigField.D_SAE, dSae);
        }

        /** Sets a field by its entry in the table; the value is of the record component's type. */
        Builder set(ConfigField field, Object value) {
            given.put(field, value);
            return this;
        }

        public long dIn() {
            return dIn;
        }

        public long dSae() {
            return dSae;
        }

        public Builder architecture(Architecture value) {
            return set(ConfigField.ARCHITECTURE, Objects.requireNonNull(value, "architecture"));
        }

        public Builder k(int value) {
            return set(ConfigField.K, value);
        }

        public Builder kAux(int value) {
            return set(ConfigField.K_AUX, value);
        }

        public Builder normalization(Normalization value) {
            return set(ConfigField.NORMALIZE, Objects.requireNonNull(value, "normalization"));
        }

        public Builder deadAfterTokens(long value) {
            return set(ConfigField.DEAD_AFTER_TOKENS, value);
        }

        public Builder auxCoeff(double value) {
            return set(ConfigField.AUX_COEFF, value);
        }

        public Builder lr(double value) {
            return set(ConfigField.LR, value);
        }

        public Builder beta1(double value) {
            return set(ConfigField.BETA1, value);
        }

        public Builder beta2(double value) {
            return set(ConfigField.BETA2, value);
        }

        public Builder eps(double value) {
            return set(ConfigField.EPS, value);
        }

        public Builder maxGradNorm(double value) {
            return set(ConfigField.MAX_GRAD_NORM, value);
        }

        public Builder l1Coeff(double value) {
            return set(ConfigField.L1_COEFF, value);
        }

        public Builder l0Coeff(double value) {
            return set(ConfigField.L0_COEFF, value);
        }

        public Builder jumpReluBandwidth(double value) {
            return set(ConfigField.JUMPRELU_BANDWIDTH, value);
        }

        public Builder jumpReluInitThreshold(double value) {
            return set(ConfigField.JUMPRELU_INIT_THRESHOLD, value);
        }

        public Builder thetaMomentum(double value) {
            return set(ConfigField.THETA_MOMENTUM, value);
        }

        public Builder seed(long value) {
            return set(ConfigField.SEED, value);
        }

        public Builder doublePrecision(boolean value) {
            return set(ConfigField.DTYPE, value);
        }

        public Builder device(Device value) {
            return set(ConfigField.DEVICE, Objects.requireNonNull(value, "device"));
        }

        public Builder path(StepPath value) {
            return set(ConfigField.PATH, Objects.requireNonNull(value, "path"));
        }

        /** Matryoshka BatchTopK's cumulative prefix widths (none by default; required by that architecture). */
        public Builder matryoshkaWidths(List<Long> value) {
            return set(ConfigField.MATRYOSHKA_WIDTHS, List.copyOf(Objects.requireNonNull(value, "matryoshkaWidths")));
        }

        /**
         * The validated config; unset fields come from the native defaults.
         *
         * @throws IllegalArgumentException with the native library's message, naming the first invalid field
         */
        public SaeConfig build() {
            Architecture architecture =
                    (Architecture) given.getOrDefault(ConfigField.ARCHITECTURE, Architecture.BATCHTOPK);
            int k = given.containsKey(ConfigField.K) ? (int) given.get(ConfigField.K) : (int) Math.min(DEFAULT_K, dSae);
            NativeLibrary.load();
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment c = btk_config.allocate(arena);
                BatchTopKException.check(
                        batchtopk_h.btk_config_defaults(c, dIn, dSae, architecture.code(), k), "btk_config_defaults");
                given.forEach((field, value) -> field.write(c, value));
                return fromNative(c);
            }
        }
    }
}
