package ai.batchtopk.training;

import ai.batchtopk.SaeConfig;
import java.util.ArrayList;
import java.util.List;

/** {@code --sweep k=16,32,64 --sweep d-sae=2048,4096}: the SAEs of a run, all combinations of the values. */
final class Sweep {
    private Sweep() {}

    /** One SAE to train: its config overrides (from --sweep) and its name (its subdirectory in a sweep). */
    record Variant(String name, Long dSae, Integer k) {}

    /** The SAEs of the run: one, or the cartesian product of the --sweep values. */
    static List<Variant> variants(TrainCommand c) {
        List<Long> dSaes = new ArrayList<>();
        List<Integer> ks = new ArrayList<>();
        if (c.sweep != null) {
            for (String item : c.sweep) {
                int eq = item.indexOf('=');
                String key = eq < 0 ? item : item.substring(0, eq).strip();
                if (eq < 0 || !(key.equals("k") || key.equals("d-sae"))) {
                    throw c.usage("--sweep " + item + ": expected k=V1,V2,... or d-sae=V1,V2,...");
                }
                for (String value : item.substring(eq + 1).split(",")) {
                    long v;
                    try {
                        v = Long.parseLong(value.strip());
                    } catch (NumberFormatException e) {
                        throw c.usage("--sweep " + item + ": " + value + " is not a whole number");
                    }
                    if (v <= 0) {
                        throw c.usage("--sweep " + item + ": values must be positive");
                    }
                    if (key.equals("k")) {
                        if (v > Integer.MAX_VALUE) {
                            throw c.usage("--sweep " + item + ": k " + v + " is too large");
                        }
                        if (!ks.contains((int) v)) ks.add((int) v);
                    } else if (!dSaes.contains(v)) {
                        dSaes.add(v);
                    }
                }
            }
        }
        if (dSaes.isEmpty()) dSaes.add(c.dSae);
        if (ks.isEmpty()) ks.add(c.k);
        List<Variant> variants = new ArrayList<>();
        for (Long n : dSaes) {
            for (Integer kk : ks) {
                if (kk != null && n != null && kk > n) {
                    throw c.usage("--sweep: k " + kk + " is larger than d_sae " + n + " (k must be at most d_sae)");
                }
                int shownK = kk != null ? kk : SaeConfig.DEFAULT_K;
                variants.add(new Variant(c.architecture().cliName() + "-dsae" + n + "-k" + shownK, n, kk));
            }
        }
        return variants;
    }
}
