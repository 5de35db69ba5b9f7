package ai.batchtopk.training;

import ai.batchtopk.Architecture;
import ai.batchtopk.SaeConfig;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Predicate;
import java.util.stream.Collectors;

/**
 * The SAEs of a {@code train} run: one, or the grid of {@code --sweep NAME=V1,V2,...} values. Each
 * architecture ({@code --sweep arch=...}, else {@code --arch}) is crossed with the d_sae values and with
 * the values of the one sparsity parameter it uses, so that one pass over the data trains the comparison
 * of the BatchTopK paper: {@code arch=batchtopk,topk,jumprelu k=16,32,64 l0-coeff=...} gives 3 + 3 + n
 * SAEs, not 3 x 3 x n.
 *
 * <p>Which parameter an architecture uses: {@code k} every architecture that selects latents by rank
 * (all but JumpReLU and ReLU, so an architecture added to {@link Architecture} is covered), {@code l0-coeff}
 * JumpReLU, {@code l1-coeff} ReLU. A swept parameter no architecture of the run uses is an error, so is
 * {@code --l0-coeff}/{@code --l1-coeff} without JumpReLU/ReLU; a single {@code --k} is kept by the others
 * as before (and ignored by them).
 */
final class SweepGrid {
    static final String ARCH = "arch";
    static final String K = "k";
    static final String D_SAE = "d-sae";
    static final String L0_COEFF = "l0-coeff";
    static final String L1_COEFF = "l1-coeff";
    private static final List<String> KEYS = List.of(ARCH, K, D_SAE, L0_COEFF, L1_COEFF);

    /**
     * One SAE of the run.
     *
     * @param name its subdirectory of --out in a sweep: the architecture, d_sae and the parameter it uses
     * @param dSae null: --d-sae was not given (a run from --init)
     * @param k null: not given (only for architectures that do not use it, or with --init)
     * @param l0Coeff null: the library's default
     * @param l1Coeff null: the library's default
     */
    record Variant(String name, Architecture architecture, Long dSae, Integer k, Double l0Coeff, Double l1Coeff) {}

    private SweepGrid() {}

    /** Whether an architecture selects a number k of latents per token (BatchTopK, TopK, ...). */
    static boolean usesK(Architecture a) {
        return a.usesK();
    }

    static boolean usesL0Coeff(Architecture a) {
        return a == Architecture.JUMPRELU;
    }

    static boolean usesL1Coeff(Architecture a) {
        return a == Architecture.RELU;
    }

    /**
     * The SAEs of the run, in the order the architectures and values were given.
     *
     * @param sweep the --sweep items (null or empty: no sweep)
     * @param architecture --arch (null: not given)
     * @throws IllegalArgumentException naming the item or option that is wrong (a usage error)
     */
    static List<Variant> of(
            List<String> sweep, Architecture architecture, Long dSae, Integer k, Double l0Coeff, Double l1Coeff) {
        Set<Architecture> archs = new LinkedHashSet<>();
        Set<Long> dSaes = new LinkedHashSet<>();
        Set<Integer> ks = new LinkedHashSet<>();
        Set<Double> l0s = new LinkedHashSet<>();
        Set<Double> l1s = new LinkedHashSet<>();
        Set<String> swept = new LinkedHashSet<>();
        for (String item : sweep == null ? List.<String>of() : sweep) {
            int eq = item.indexOf('=');
            String key = eq < 0 ? item.strip() : item.substring(0, eq).strip();
            if (eq < 0 || !KEYS.contains(key)) {
                throw new IllegalArgumentException(
                        "--sweep " + item + ": expected NAME=V1,V2,... with NAME one of " + String.join(", ", KEYS));
            }
            swept.add(key);
            for (String text : item.substring(eq + 1).split(",", -1)) {
                String value = text.strip();
                if (value.isEmpty()) {
                    throw new IllegalArgumentException("--sweep " + item + ": an empty value");
                }
                switch (key) {
                    case ARCH -> archs.add(architecture(item, value));
                    case K -> ks.add(Math.toIntExact(whole(item, value, Integer.MAX_VALUE)));
                    case D_SAE -> dSaes.add(whole(item, value, Long.MAX_VALUE));
                    case L0_COEFF -> l0s.add(coefficient(item, value));
                    default -> l1s.add(coefficient(item, value));
                }
            }
        }
        if (!archs.isEmpty() && architecture != null) {
            throw new IllegalArgumentException("--arch " + architecture.cliName()
                    + " and --sweep arch=... both name the" + " architecture: give one of them");
        }
        if (archs.isEmpty()) {
            archs.add(architecture != null ? architecture : Architecture.BATCHTOPK);
        }
        requireUsed(swept.contains(K) ? "--sweep k=..." : null, archs, SweepGrid::usesK, "k");
        requireUsed(
                swept.contains(L0_COEFF) ? "--sweep l0-coeff=..." : l0Coeff != null ? "--l0-coeff" : null,
                archs,
                SweepGrid::usesL0Coeff,
                "l0-coeff");
        requireUsed(
                swept.contains(L1_COEFF) ? "--sweep l1-coeff=..." : l1Coeff != null ? "--l1-coeff" : null,
                archs,
                SweepGrid::usesL1Coeff,
                "l1-coeff");
        if (swept.contains(L0_COEFF) && l0Coeff != null) {
            throw new IllegalArgumentException("--l0-coeff and --sweep l0-coeff=... both set it: give one of them");
        }
        if (swept.contains(L1_COEFF) && l1Coeff != null) {
            throw new IllegalArgumentException("--l1-coeff and --sweep l1-coeff=... both set it: give one of them");
        }
        if (dSaes.isEmpty()) dSaes.add(dSae);
        if (ks.isEmpty()) ks.add(k);
        if (l0s.isEmpty()) l0s.add(l0Coeff);
        if (l1s.isEmpty()) l1s.add(l1Coeff);

        List<Variant> variants = new ArrayList<>();
        for (Architecture arch : archs) {
            for (Long n : dSaes) {
                String base = arch.cliName() + "-dsae" + n;
                if (usesK(arch)) {
                    for (Integer kk : ks) {
                        if (kk != null && n != null && kk > n) {
                            throw new IllegalArgumentException(
                                    (swept.contains(K) || swept.contains(D_SAE) ? "--sweep" : "--k") + ": k " + kk
                                            + " is larger than d_sae " + n + " (k must be at most d_sae)");
                        }
                        int shownK = kk != null ? kk : SaeConfig.DEFAULT_K;
                        variants.add(new Variant(base + "-k" + shownK, arch, n, kk, l0Coeff, l1Coeff));
                    }
                } else if (usesL0Coeff(arch)) {
                    for (Double c : l0s) {
                        variants.add(new Variant(base + suffix("-l0c", c), arch, n, k, c, l1Coeff));
                    }
                } else if (usesL1Coeff(arch)) {
                    for (Double c : l1s) {
                        variants.add(new Variant(base + suffix("-l1c", c), arch, n, k, l0Coeff, c));
                    }
                } else {
                    variants.add(new Variant(base, arch, n, k, l0Coeff, l1Coeff));
                }
            }
        }
        return variants;
    }

    /** The architectures of the run that need --k and were given none (for "--k is required"). */
    static List<Architecture> needingK(List<Variant> variants) {
        return variants.stream()
                .filter(v -> usesK(v.architecture()) && v.k() == null)
                .map(Variant::architecture)
                .distinct()
                .toList();
    }

    private static void requireUsed(String given, Set<Architecture> archs, Predicate<Architecture> uses, String what) {
        if (given == null || archs.stream().anyMatch(uses)) {
            return;
        }
        String users = Arrays.stream(Architecture.values())
                .filter(uses)
                .map(Architecture::cliName)
                .collect(Collectors.joining(", "));
        throw new IllegalArgumentException(given + ": " + what + " applies to " + users + " only, and the run trains "
                + archs.stream().map(Architecture::cliName).collect(Collectors.joining(", ")));
    }

    private static Architecture architecture(String item, String value) {
        try {
            return Architecture.fromCliName(value);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--sweep " + item + ": " + e.getMessage());
        }
    }

    private static long whole(String item, String value, long max) {
        long v;
        try {
            v = Long.parseLong(value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--sweep " + item + ": " + value + " is not a whole number");
        }
        if (v <= 0) {
            throw new IllegalArgumentException("--sweep " + item + ": values must be positive");
        }
        if (v > max) {
            throw new IllegalArgumentException("--sweep " + item + ": " + value + " is too large");
        }
        return v;
    }

    private static double coefficient(String item, String value) {
        double v;
        try {
            v = Double.parseDouble(value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--sweep " + item + ": " + value + " is not a number");
        }
        if (!(Double.isFinite(v) && v >= 0)) {
            throw new IllegalArgumentException(
                    "--sweep " + item + ": values must be finite numbers >= 0, got " + value);
        }
        return v;
    }

    /** "-l0c0.001": the coefficient in plain decimal (no exponent), or nothing when it was not given. */
    private static String suffix(String prefix, Double c) {
        return c == null
                ? ""
                : prefix + BigDecimal.valueOf(c).stripTrailingZeros().toPlainString();
    }
}
