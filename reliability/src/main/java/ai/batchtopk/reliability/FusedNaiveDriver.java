package ai.batchtopk.reliability;

import ai.batchtopk.Architecture;
import ai.batchtopk.Sae;
import ai.batchtopk.SaeConfig;
import ai.batchtopk.StepMetrics;
import ai.batchtopk.StepPath;
import ai.batchtopk.io.JsonCodec;
import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs in a child JVM (issue 10, item 1): for every architecture and batch sizes 1, 2 and 3, twenty
 * steps of the fused and the naive path in double precision must agree to rounding, and
 * {@code lossAndGradients} must leave every state tensor bit for bit as it was. One JSON line per check.
 */
public final class FusedNaiveDriver {
    private FusedNaiveDriver() {}

    private static final double TOLERANCE = 1e-9;

    public static void main(String[] args) {
        for (Architecture architecture : Architecture.values()) {
            for (int rows = 1; rows <= 3; rows++) {
                print(fusedVsNaive(architecture, rows));
                print(lossAndGradientsChangesNothing(architecture, rows));
            }
        }
    }

    private static SaeConfig config(Architecture architecture, StepPath path) {
        // A short dead window so that AuxK takes part within twenty steps.
        return SaeConfig.builder(16, 64)
                .architecture(architecture)
                .k(4)
                .kAux(8)
                .seed(11)
                .lr(1e-3)
                .deadAfterTokens(8)
                .doublePrecision(true)
                .path(path)
                .matryoshkaWidths(architecture == Architecture.MATRYOSHKA_BATCHTOPK ? List.of(8L, 24L, 64L) : List.of())
                .build();
    }

    private static Map<String, Object> fusedVsNaive(Architecture architecture, int rows) {
        Map<String, Object> line = header("fused-vs-naive", architecture, rows);
        double lossGap = 0;
        double stateGap = 0;
        try (Arena arena = Arena.ofConfined();
                Sae fused = Sae.create(config(architecture, StepPath.FUSED));
                Sae naive = Sae.create(config(architecture, StepPath.NAIVE))) {
            for (int step = 0; step < 20; step++) {
                Tensor batch = DriverData.gaussian(arena, rows, 16, 1000L * rows + step, true);
                StepMetrics f = fused.trainStep(batch);
                StepMetrics n = naive.trainStep(batch);
                lossGap = Math.max(lossGap, Math.abs(f.loss() - n.loss()) / Math.max(Math.abs(n.loss()), 1e-30));
            }
            for (String name : naive.stateNames()) {
                if (!name.startsWith("grad.")) {
                    stateGap = Math.max(stateGap, relative(fused.state(name, arena), naive.state(name, arena)));
                }
            }
            line.put("loss_gap", lossGap);
            line.put("state_gap", stateGap);
            line.put("ok", lossGap <= TOLERANCE && stateGap <= TOLERANCE);
        } catch (RuntimeException e) {
            line.put("ok", false);
            line.put("error", e.toString());
        }
        return line;
    }

    private static Map<String, Object> lossAndGradientsChangesNothing(Architecture architecture, int rows) {
        Map<String, Object> line = header("loss-and-gradients", architecture, rows);
        try (Arena arena = Arena.ofConfined();
                Sae sae = Sae.create(config(architecture, StepPath.FUSED))) {
            // A few steps first, so that the moments and counters are not all zero.
            for (int step = 0; step < 3; step++) {
                sae.trainStep(DriverData.gaussian(arena, 4, 16, 77 + step, true));
            }
            List<String> names = sae.stateNames().stream()
                    .filter(n -> !n.startsWith("grad."))
                    .toList();
            Map<String, byte[]> before = new LinkedHashMap<>();
            for (String name : names) {
                before.put(name, sae.state(name, arena).data().toArray(ValueLayout.JAVA_BYTE));
            }
            List<Double> losses = new ArrayList<>();
            for (StepPath path : StepPath.values()) {
                sae.setPath(path);
                for (int call = 0; call < 3; call++) {
                    losses.add(sae.lossAndGradients(DriverData.gaussian(arena, rows, 16, 5, true), call % 2 == 0)
                            .loss());
                }
            }
            List<String> changed = new ArrayList<>();
            for (String name : names) {
                if (!Arrays.equals(
                        before.get(name), sae.state(name, arena).data().toArray(ValueLayout.JAVA_BYTE))) {
                    changed.add(name);
                }
            }
            line.put("changed", changed);
            line.put("losses", losses);
            boolean sameLoss = losses.stream()
                    .allMatch(l -> Math.abs(l - losses.getFirst()) <= TOLERANCE * Math.abs(losses.getFirst()));
            line.put("ok", changed.isEmpty() && sameLoss);
        } catch (RuntimeException e) {
            line.put("ok", false);
            line.put("error", e.toString());
        }
        return line;
    }

    private static Map<String, Object> header(String check, Architecture architecture, int rows) {
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("check", check);
        line.put("arch", architecture.name());
        line.put("rows", rows);
        return line;
    }

    private static double relative(Tensor a, Tensor b) {
        double diff = 0;
        double norm = 0;
        for (long i = 0; i < a.numel(); i++) {
            double x = value(a, i);
            double y = value(b, i);
            diff += (x - y) * (x - y);
            norm += y * y;
        }
        return Math.sqrt(diff) / Math.max(Math.sqrt(norm), 1e-30);
    }

    private static double value(Tensor t, long i) {
        return switch (t.dtype()) {
            case F64 -> t.data().getAtIndex(Tensor.F64_LE, i);
            case F32 -> t.data().getAtIndex(Tensor.F32_LE, i);
            case I64 -> t.data().getAtIndex(Tensor.I64_LE, i);
            case I32 -> t.data().getAtIndex(Tensor.I32_LE, i);
            default -> throw new IllegalArgumentException("state of dtype " + t.dtype());
        };
    }

    private static void print(Map<String, Object> line) {
        System.out.println(JsonCodec.write(line));
        System.out.flush();
    }
}
