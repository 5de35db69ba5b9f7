package ai.batchtopk;

import ai.batchtopk.bindings.batchtopk_h;
import ai.batchtopk.bindings.btk_config;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.util.List;
import java.util.Objects;

/**
 * Everything that defines an SAE and how it trains: shape, architecture, loss weights, optimizer,
 * seed, precision, device and step implementation. The Java twin of the native {@code btk_config}.
 *
 * <p>The compact constructor checks every field and names the one that is wrong, with the same rules
 * as the native library, so mistakes surface at the line that made them rather than inside a
 * downcall. Build one with {@link #builder(long, long)}: unset fields take the native library's
 * defaults ({@code btk_config_defaults}), so Java and C++ cannot disagree about them.
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

    public SaeConfig {
        Objects.requireNonNull(architecture, "architecture");
        Objects.requireNonNull(normalization, "normalization");
        Objects.requireNonNull(device, "device");
        Objects.requireNonNull(path, "path");
        matryoshkaWidths = List.copyOf(Objects.requireNonNull(matryoshkaWidths, "matryoshkaWidths"));
        require(dIn > 0, "d_in must be positive, got " + dIn);
        require(dSae > 0, "d_sae must be positive, got " + dSae);
        try {
            Math.multiplyExact(dIn, dSae);
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("d_in * d_sae overflows: d_in = " + dIn + ", d_sae = " + dSae);
        }
        requireValidK(architecture, k, dSae);
        requireValidWidths(architecture, matryoshkaWidths, dSae);
        // Each row is divided by its (unbiased) standard deviation, which one value does not have: every
        // row would become NaN, and the run would fail with a message about the learning rate.
        require(normalization != Normalization.PER_TOKEN || dIn >= 2, "normalization per-token needs d_in >= 2, got"
                + " d_in = " + dIn + ": a row of one value has no standard deviation to divide by; use normalization none");
        require(kAux >= 0, "k_aux must not be negative (0 disables AuxK), got " + kAux);
        require(deadAfterTokens > 0, "dead_after_tokens must be positive, got " + deadAfterTokens);
        require(Double.isFinite(auxCoeff) && auxCoeff >= 0, "aux_coeff must be finite and >= 0, got " + auxCoeff);
        require(Double.isFinite(lr) && lr > 0, "lr must be finite and positive, got " + lr);
        require(beta1 >= 0 && beta1 < 1, "beta1 must be in [0, 1), got " + beta1);
        require(beta2 >= 0 && beta2 < 1, "beta2 must be in [0, 1), got " + beta2);
        require(Double.isFinite(eps) && eps > 0, "eps must be finite and positive, got " + eps);
        // Finite so that every config can be written as JSON; a value <= 0 is how clipping is turned off.
        require(Double.isFinite(maxGradNorm), "max_grad_norm must be finite (<= 0 disables clipping), got " + maxGradNorm);
        require(Double.isFinite(l1Coeff) && l1Coeff >= 0, "l1_coeff must be finite and >= 0, got " + l1Coeff);
        require(Double.isFinite(l0Coeff) && l0Coeff >= 0, "l0_coeff must be finite and >= 0, got " + l0Coeff);
        require(Double.isFinite(jumpReluBandwidth) && jumpReluBandwidth > 0,
                "jumprelu_bandwidth must be finite and positive, got " + jumpReluBandwidth);
        require(Double.isFinite(jumpReluInitThreshold) && jumpReluInitThreshold > 0,
                "jumprelu_init_threshold must be finite and positive, got " + jumpReluInitThreshold);
        require(thetaMomentum > 0 && thetaMomentum <= 1, "theta_momentum must be in (0, 1], got " + thetaMomentum);
    }

    /** k matters to the top-k architectures only; the others merely keep it (and it must not be negative). */
    private static void requireValidK(Architecture architecture, int k, long dSae) {
        if (architecture.usesK()) {
            require(k > 0, "k must be positive, got " + k);
            require(k <= dSae, "k = " + k + " exceeds d_sae = " + dSae);
        } else {
            require(k >= 0, "k must not be negative, got " + k);
        }
    }

    /** The native rules for matryoshka widths, with the same messages. */
    private static void requireValidWidths(Architecture architecture, List<Long> widths, long dSae) {
        if (architecture != Architecture.MATRYOSHKA_BATCHTOPK) {
            require(widths.isEmpty(), "matryoshka widths apply to the " + Architecture.MATRYOSHKA_BATCHTOPK.cliName()
                    + " architecture only, not " + architecture.cliName());
            return;
        }
        int most = batchtopk_h.BTK_MAX_MATRYOSHKA_WIDTHS();
        require(!widths.isEmpty() && widths.size() <= most, "Matryoshka BatchTopK needs 1 to " + most
                + " matryoshka widths, got " + widths.size());
        long previous = 0;
        for (int i = 0; i < widths.size(); i++) {
            long w = widths.get(i);
            require(w > previous, "matryoshka widths must be positive and strictly increasing, but width " + (i + 1)
                    + " is " + w + (i == 0 ? "" : " after " + previous));
            previous = w;
        }
        require(previous == dSae, "the last matryoshka width must equal d_sae = " + dSae + ", got " + previous);
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }

    /** A builder whose unset fields take the native defaults for this shape, architecture and k. */
    public static Builder builder(long dIn, long dSae) {
        return new Builder(dIn, dSae);
    }

    /** A builder holding every field of this config, to derive a changed copy. */
    public Builder toBuilder() {
        return new Builder(dIn, dSae)
                .architecture(architecture)
                .k(k)
                .kAux(kAux)
                .normalization(normalization)
                .deadAfterTokens(deadAfterTokens)
                .auxCoeff(auxCoeff)
                .lr(lr)
                .beta1(beta1)
                .beta2(beta2)
                .eps(eps)
                .maxGradNorm(maxGradNorm)
                .l1Coeff(l1Coeff)
                .l0Coeff(l0Coeff)
                .jumpReluBandwidth(jumpReluBandwidth)
                .jumpReluInitThreshold(jumpReluInitThreshold)
                .thetaMomentum(thetaMomentum)
                .seed(seed)
                .doublePrecision(doublePrecision)
                .device(device)
                .path(path)
                .matryoshkaWidths(matryoshkaWidths);
    }

    /** A new native {@code btk_config} holding this config. */
    public MemorySegment toNative(SegmentAllocator allocator) {
        MemorySegment c = btk_config.allocate(allocator);
        btk_config.d_in(c, dIn);
        btk_config.d_sae(c, dSae);
        btk_config.architecture(c, architecture.code());
        btk_config.k(c, k);
        btk_config.k_aux(c, kAux);
        btk_config.normalize(c, normalization.code());
        btk_config.dead_after_tokens(c, deadAfterTokens);
        btk_config.aux_coeff(c, auxCoeff);
        btk_config.lr(c, lr);
        btk_config.beta1(c, beta1);
        btk_config.beta2(c, beta2);
        btk_config.eps(c, eps);
        btk_config.max_grad_norm(c, maxGradNorm);
        btk_config.l1_coeff(c, l1Coeff);
        btk_config.l0_coeff(c, l0Coeff);
        btk_config.jumprelu_bandwidth(c, jumpReluBandwidth);
        btk_config.jumprelu_init_threshold(c, jumpReluInitThreshold);
        btk_config.theta_momentum(c, thetaMomentum);
        btk_config.seed(c, seed);
        btk_config.dtype(c, doublePrecision ? batchtopk_h.BTK_DTYPE_F64() : batchtopk_h.BTK_DTYPE_F32());
        btk_config.device(c, device.code());
        btk_config.path(c, path.code());
        btk_config.reserved(c, 0);
        btk_config.matryoshka_count(c, matryoshkaWidths.size());
        for (int i = 0; i < matryoshkaWidths.size(); i++) {
            btk_config.matryoshka_widths(c, i, matryoshkaWidths.get(i));
        }
        return c;
    }

    /** The config a native {@code btk_config} holds (validated like any other). */
    public static SaeConfig fromNative(MemorySegment c) {
        return builderFromNative(c).build(false);
    }

    private static Builder builderFromNative(MemorySegment c) {
        int dtype = btk_config.dtype(c);
        if (dtype != batchtopk_h.BTK_DTYPE_F32() && dtype != batchtopk_h.BTK_DTYPE_F64()) {
            throw new IllegalArgumentException("parameter dtype code " + dtype + " is neither F32 nor F64");
        }
        return new Builder(btk_config.d_in(c), btk_config.d_sae(c))
                .architecture(Architecture.fromCode(btk_config.architecture(c)))
                .k(btk_config.k(c))
                .kAux(btk_config.k_aux(c))
                .normalization(Normalization.fromCode(btk_config.normalize(c)))
                .deadAfterTokens(btk_config.dead_after_tokens(c))
                .auxCoeff(btk_config.aux_coeff(c))
                .lr(btk_config.lr(c))
                .beta1(btk_config.beta1(c))
                .beta2(btk_config.beta2(c))
                .eps(btk_config.eps(c))
                .maxGradNorm(btk_config.max_grad_norm(c))
                .l1Coeff(btk_config.l1_coeff(c))
                .l0Coeff(btk_config.l0_coeff(c))
                .jumpReluBandwidth(btk_config.jumprelu_bandwidth(c))
                .jumpReluInitThreshold(btk_config.jumprelu_init_threshold(c))
                .thetaMomentum(btk_config.theta_momentum(c))
                .seed(btk_config.seed(c))
                .doublePrecision(dtype == batchtopk_h.BTK_DTYPE_F64())
                .device(Device.fromCode(btk_config.device(c)))
                .path(StepPath.fromCode(btk_config.path(c)))
                .matryoshkaWidths(nativeWidths(c));
    }

    private static List<Long> nativeWidths(MemorySegment c) {
        int count = btk_config.matryoshka_count(c);
        if (count < 0 || count > batchtopk_h.BTK_MAX_MATRYOSHKA_WIDTHS()) {
            throw new IllegalArgumentException("matryoshka_count " + count + " is out of range");
        }
        Long[] widths = new Long[count];
        for (int i = 0; i < count; i++) {
            widths[i] = btk_config.matryoshka_widths(c, i);
        }
        return List.of(widths);
    }

    /**
     * Collects the fields a caller cares about; {@link #build()} fills the rest from
     * {@code btk_config_defaults(d_in, d_sae, architecture, k)}, whose answers may depend on the
     * architecture and k (so they are asked for only once those are known).
     */
    public static final class Builder {
        private final long dIn;
        private final long dSae;
        private Architecture architecture = Architecture.BATCHTOPK;
        private Integer k;
        private Integer kAux;
        private Normalization normalization;
        private Long deadAfterTokens;
        private Double auxCoeff;
        private Double lr;
        private Double beta1;
        private Double beta2;
        private Double eps;
        private Double maxGradNorm;
        private Double l1Coeff;
        private Double l0Coeff;
        private Double jumpReluBandwidth;
        private Double jumpReluInitThreshold;
        private Double thetaMomentum;
        private Long seed;
        private Boolean doublePrecision;
        private Device device;
        private StepPath path;
        private List<Long> matryoshkaWidths = List.of();

        private Builder(long dIn, long dSae) {
            this.dIn = dIn;
            this.dSae = dSae;
        }

        public long dIn() {
            return dIn;
        }

        public long dSae() {
            return dSae;
        }

        public Builder architecture(Architecture value) {
            this.architecture = Objects.requireNonNull(value, "architecture");
            return this;
        }

        public Builder k(int value) {
            this.k = value;
            return this;
        }

        public Builder kAux(int value) {
            this.kAux = value;
            return this;
        }

        public Builder normalization(Normalization value) {
            this.normalization = Objects.requireNonNull(value, "normalization");
            return this;
        }

        public Builder deadAfterTokens(long value) {
            this.deadAfterTokens = value;
            return this;
        }

        public Builder auxCoeff(double value) {
            this.auxCoeff = value;
            return this;
        }

        public Builder lr(double value) {
            this.lr = value;
            return this;
        }

        public Builder beta1(double value) {
            this.beta1 = value;
            return this;
        }

        public Builder beta2(double value) {
            this.beta2 = value;
            return this;
        }

        public Builder eps(double value) {
            this.eps = value;
            return this;
        }

        public Builder maxGradNorm(double value) {
            this.maxGradNorm = value;
            return this;
        }

        public Builder l1Coeff(double value) {
            this.l1Coeff = value;
            return this;
        }

        public Builder l0Coeff(double value) {
            this.l0Coeff = value;
            return this;
        }

        public Builder jumpReluBandwidth(double value) {
            this.jumpReluBandwidth = value;
            return this;
        }

        public Builder jumpReluInitThreshold(double value) {
            this.jumpReluInitThreshold = value;
            return this;
        }

        public Builder thetaMomentum(double value) {
            this.thetaMomentum = value;
            return this;
        }

        public Builder seed(long value) {
            this.seed = value;
            return this;
        }

        public Builder doublePrecision(boolean value) {
            this.doublePrecision = value;
            return this;
        }

        public Builder device(Device value) {
            this.device = Objects.requireNonNull(value, "device");
            return this;
        }

        public Builder path(StepPath value) {
            this.path = Objects.requireNonNull(value, "path");
            return this;
        }

        /** Matryoshka BatchTopK's cumulative prefix widths (none by default; required by that architecture). */
        public Builder matryoshkaWidths(List<Long> value) {
            this.matryoshkaWidths = List.copyOf(Objects.requireNonNull(value, "matryoshkaWidths"));
            return this;
        }

        /**
         * The validated config; unset fields come from the native defaults.
         *
         * @throws IllegalArgumentException naming the first invalid field
         */
        public SaeConfig build() {
            return build(true);
        }

        private SaeConfig build(boolean fillDefaults) {
            // Check the shape before asking native code anything, so the message is ours and plain.
            require(dIn > 0, "d_in must be positive, got " + dIn);
            require(dSae > 0, "d_sae must be positive, got " + dSae);
            int kValue = k != null ? k : (int) Math.min(DEFAULT_K, dSae);
            requireValidK(architecture, kValue, dSae);
            Builder d = fillDefaults && !allSet() ? nativeDefaults(kValue) : this;
            return new SaeConfig(dIn, dSae, architecture, kValue, or(kAux, d.kAux),
                    or(normalization, d.normalization), or(deadAfterTokens, d.deadAfterTokens),
                    or(auxCoeff, d.auxCoeff), or(lr, d.lr), or(beta1, d.beta1), or(beta2, d.beta2), or(eps, d.eps),
                    or(maxGradNorm, d.maxGradNorm), or(l1Coeff, d.l1Coeff), or(l0Coeff, d.l0Coeff),
                    or(jumpReluBandwidth, d.jumpReluBandwidth), or(jumpReluInitThreshold, d.jumpReluInitThreshold),
                    or(thetaMomentum, d.thetaMomentum), or(seed, d.seed), or(doublePrecision, d.doublePrecision),
                    or(device, d.device), or(path, d.path), matryoshkaWidths);
        }

        /** What {@code btk_config_defaults} says for this shape, architecture and k. */
        private Builder nativeDefaults(int kValue) {
            NativeLibrary.load();
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment defaults = btk_config.allocate(arena);
                BatchTopKException.check(
                        batchtopk_h.btk_config_defaults(defaults, dIn, dSae, architecture.code(), kValue),
                        "btk_config_defaults");
                return builderFromNative(defaults);
            }
        }

        private static <T> T or(T value, T fallback) {
            return value != null ? value : fallback;
        }

        private boolean allSet() {
            return k != null && kAux != null && normalization != null && deadAfterTokens != null && auxCoeff != null
                    && lr != null && beta1 != null && beta2 != null && eps != null && maxGradNorm != null
                    && l1Coeff != null && l0Coeff != null && jumpReluBandwidth != null
                    && jumpReluInitThreshold != null && thetaMomentum != null && seed != null
                    && doublePrecision != null && device != null && path != null;
        }
    }
}
