package ai.batchtopk;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@link SaeConfig} as a JSON object of snake_case keys (the names of {@code btk_config}'s fields),
 * for cfg.json files and run logs. Written in full; read leniently: unknown keys are ignored and a
 * missing optional key takes the native default, so files written by older versions still load.
 */
public final class ConfigJson {
    /** Bumped when a key changes meaning. */
    public static final int FORMAT_VERSION = 1;

    private ConfigJson() {}

    /** Every field of the config, in declaration order, as JSON-ready values. */
    public static Map<String, Object> toMap(SaeConfig c) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("format_version", FORMAT_VERSION);
        m.put("d_in", c.dIn());
        m.put("d_sae", c.dSae());
        m.put("architecture", c.architecture().cliName());
        m.put("k", c.k());
        m.put("k_aux", c.kAux());
        m.put("normalization", c.normalization().cliName());
        m.put("dead_after_tokens", c.deadAfterTokens());
        m.put("aux_coeff", c.auxCoeff());
        m.put("lr", c.lr());
        m.put("beta1", c.beta1());
        m.put("beta2", c.beta2());
        m.put("eps", c.eps());
        m.put("max_grad_norm", c.maxGradNorm());
        m.put("l1_coeff", c.l1Coeff());
        m.put("l0_coeff", c.l0Coeff());
        m.put("jumprelu_bandwidth", c.jumpReluBandwidth());
        m.put("jumprelu_init_threshold", c.jumpReluInitThreshold());
        m.put("theta_momentum", c.thetaMomentum());
        // The native seed is unsigned; a signed long round-trips through our reader exactly.
        m.put("seed", c.seed());
        m.put("dtype", c.doublePrecision() ? "float64" : "float32");
        m.put("device", c.device().name().toLowerCase(Locale.ROOT));
        m.put("path", c.path().name().toLowerCase(Locale.ROOT));
        if (!c.matryoshkaWidths().isEmpty()) {
            m.put("matryoshka_widths", c.matryoshkaWidths());
        }
        return m;
    }

    /**
     * The config a JSON object describes. {@code d_in}, {@code d_sae} and {@code architecture} are
     * required; everything else defaults as in {@link SaeConfig#builder}.
     *
     * @throws IllegalArgumentException naming the first missing, mistyped or invalid key
     */
    public static SaeConfig fromMap(Map<?, ?> m) {
        Object version = m.get("format_version");
        if (version instanceof Long v && v > FORMAT_VERSION) {
            throw new IllegalArgumentException("format_version " + v + " is newer than this library understands ("
                    + FORMAT_VERSION + ")");
        }
        SaeConfig.Builder b = SaeConfig.builder(requiredLong(m, "d_in"), requiredLong(m, "d_sae"));
        String architecture = string(m, "architecture");
        if (architecture == null) {
            throw new IllegalArgumentException("missing key 'architecture'");
        }
        b.architecture(parse("architecture", architecture, Architecture::fromCliName));
        if (m.get("k") != null) b.k(toInt("k", requiredLong(m, "k")));
        if (m.get("k_aux") != null) b.kAux(toInt("k_aux", requiredLong(m, "k_aux")));
        String normalization = string(m, "normalization");
        if (normalization != null) b.normalization(parse("normalization", normalization, Normalization::fromCliName));
        if (m.get("dead_after_tokens") != null) b.deadAfterTokens(requiredLong(m, "dead_after_tokens"));
        if (m.get("aux_coeff") != null) b.auxCoeff(requiredDouble(m, "aux_coeff"));
        if (m.get("lr") != null) b.lr(requiredDouble(m, "lr"));
        if (m.get("beta1") != null) b.beta1(requiredDouble(m, "beta1"));
        if (m.get("beta2") != null) b.beta2(requiredDouble(m, "beta2"));
        if (m.get("eps") != null) b.eps(requiredDouble(m, "eps"));
        if (m.get("max_grad_norm") != null) b.maxGradNorm(requiredDouble(m, "max_grad_norm"));
        if (m.get("l1_coeff") != null) b.l1Coeff(requiredDouble(m, "l1_coeff"));
        if (m.get("l0_coeff") != null) b.l0Coeff(requiredDouble(m, "l0_coeff"));
        if (m.get("jumprelu_bandwidth") != null) b.jumpReluBandwidth(requiredDouble(m, "jumprelu_bandwidth"));
        if (m.get("jumprelu_init_threshold") != null) {
            b.jumpReluInitThreshold(requiredDouble(m, "jumprelu_init_threshold"));
        }
        if (m.get("theta_momentum") != null) b.thetaMomentum(requiredDouble(m, "theta_momentum"));
        if (m.get("seed") != null) b.seed(requiredLong(m, "seed"));
        String dtype = string(m, "dtype");
        if (dtype != null) {
            b.doublePrecision(switch (dtype) {
                case "float32" -> false;
                case "float64" -> true;
                default -> throw new IllegalArgumentException("dtype must be \"float32\" or \"float64\", got \"" + dtype + "\"");
            });
        }
        String device = string(m, "device");
        if (device != null) b.device(parse("device", device, s -> Device.valueOf(s.toUpperCase(Locale.ROOT))));
        String path = string(m, "path");
        if (path != null) b.path(parse("path", path, s -> StepPath.valueOf(s.toUpperCase(Locale.ROOT))));
        if (m.get("matryoshka_widths") != null) b.matryoshkaWidths(longList(m, "matryoshka_widths"));
        return b.build();
    }

    private static long requiredLong(Map<?, ?> m, String key) {
        Object v = m.get(key);
        if (v == null) {
            throw new IllegalArgumentException("missing key '" + key + "'");
        }
        if (v instanceof Long l) {
            return l;
        }
        if (v instanceof Integer i) {
            return i;
        }
        throw new IllegalArgumentException("'" + key + "' must be an integer, got " + describe(v));
    }

    /** A JSON array of integers, such as {@code matryoshka_widths}. */
    static List<Long> longList(Map<?, ?> m, String key) {
        if (!(m.get(key) instanceof List<?> list)) {
            throw new IllegalArgumentException("'" + key + "' must be an array of integers, got " + describe(m.get(key)));
        }
        List<Long> values = new ArrayList<>();
        for (Object v : list) {
            if (v instanceof Long l) {
                values.add(l);
            } else if (v instanceof Integer i) {
                values.add((long) i);
            } else {
                throw new IllegalArgumentException("'" + key + "' must be an array of integers, but holds " + describe(v));
            }
        }
        return values;
    }

    private static double requiredDouble(Map<?, ?> m, String key) {
        Object v = m.get(key);
        if (v instanceof Number n) {
            return n.doubleValue();
        }
        throw new IllegalArgumentException("'" + key + "' must be a number, got " + describe(v));
    }

    private static String string(Map<?, ?> m, String key) {
        Object v = m.get(key);
        if (v == null || v instanceof String) {
            return (String) v;
        }
        throw new IllegalArgumentException("'" + key + "' must be a string, got " + describe(v));
    }

    private static int toInt(String key, long value) {
        if (value < Integer.MIN_VALUE || value > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("'" + key + "' = " + value + " does not fit a 32-bit integer");
        }
        return (int) value;
    }

    private static <T> T parse(String key, String value, java.util.function.Function<String, T> parser) {
        try {
            return parser.apply(value);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("'" + key + "': " + e.getMessage(), e);
        }
    }

    private static String describe(Object v) {
        return v == null ? "null" : v.getClass().getSimpleName() + " " + v;
    }
}
