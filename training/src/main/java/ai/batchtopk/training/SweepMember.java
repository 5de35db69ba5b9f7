package ai.batchtopk.training;

import ai.batchtopk.EvalResult;
import ai.batchtopk.SaeConfig;
import ai.batchtopk.SaeLens;
import ai.batchtopk.report.ComparisonPage;
import ai.batchtopk.report.Report;
import ai.batchtopk.train.EvalLog;
import ai.batchtopk.train.MetricsLog;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * One SAE directory of a run that {@code compare} reads, and what its training logs say: the last line of its
 * metrics.jsonl and of its eval.jsonl (null when there is none).
 */
record SweepMember(Path dir, SaeConfig config, Map<String, Object> lastMetrics, Map<String, Object> lastEval) {

    /** The SAEs in RUN_DIR: its subdirectories holding one (sorted by name), or RUN_DIR itself. */
    static List<SweepMember> of(Path run) throws IOException {
        if (!Files.isDirectory(run)) {
            throw new CommandFailure(
                    "RUN_DIR " + run + ": " + (Files.exists(run) ? "not a directory" : "no such directory"));
        }
        List<Path> dirs;
        try (Stream<Path> children = Files.list(run)) {
            // A checkpoint save's swap siblings (NAME.incoming, NAME.previous) hold an SAE too, but not another one.
            dirs = children.filter(p -> Files.isRegularFile(p.resolve(SaeLens.CONFIG_FILE)))
                    .filter(p -> !p.getFileName().toString().matches(".*\\.(incoming|previous)"))
                    .sorted()
                    .toList();
        }
        if (dirs.isEmpty() && Files.isRegularFile(run.resolve(SaeLens.CONFIG_FILE))) {
            dirs = List.of(run);
        }
        if (dirs.isEmpty()) {
            throw new CommandFailure("RUN_DIR " + run + " holds no SAE (no " + SaeLens.CONFIG_FILE + " in it or its"
                    + " subdirectories): give the --out of a 'train' run, e.g. one with --sweep arch=batchtopk,topk");
        }
        List<SweepMember> members = new ArrayList<>();
        for (Path dir : dirs) {
            members.add(new SweepMember(
                    dir,
                    SaeLens.config(dir),
                    lastLine(dir.resolve(MetricsLog.FILE)),
                    lastLine(dir.resolve(EvalLog.FILE))));
        }
        return members;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> lastLine(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            return null;
        }
        List<Map<String, Object>> lines = (List<Map<String, Object>>) (List<?>) Report.readJsonLines(file, Map.class);
        return lines.isEmpty() ? null : lines.getLast();
    }

    /** Whether its eval.jsonl has a last line with an NMSE to compare. */
    boolean evaluated() {
        return lastEval != null && lastEval.get("nmse") instanceof Number;
    }

    /** The held-out figures of its last eval.jsonl line. */
    EvalResult lastEvalResult() {
        return new EvalResult(
                number(lastEval, "eval_tokens", 1).longValue(),
                number(lastEval, "nmse", Double.NaN).doubleValue(),
                number(lastEval, "explained_variance", Double.NaN).doubleValue(),
                number(lastEval, "l0", Double.NaN).doubleValue(),
                number(lastEval, "dead_fraction", 0).doubleValue(),
                prefixNmse(lastEval));
    }

    /** A Matryoshka SAE's prefix NMSE from its eval.jsonl line (none for the others). */
    private static List<Double> prefixNmse(Map<String, Object> line) {
        return line.get("prefix_nmse") instanceof List<?> values
                ? values.stream()
                        .map(v -> v instanceof Number n ? n.doubleValue() : Double.NaN)
                        .toList()
                : List.of();
    }

    private static Number number(Map<String, Object> line, String key, Number absent) {
        return line.get(key) instanceof Number n ? n : absent;
    }

    /** Its row of the comparison page: held-out figures {@code r}, and the downstream ones when measured. */
    ComparisonPage.Entry entry(EvalResult r, Map<String, Object> downstream) {
        Double trainDead = lastMetrics != null && lastMetrics.get("dead") instanceof Number n
                ? n.doubleValue() / config.dSae()
                : null;
        return new ComparisonPage.Entry(
                dir.getFileName().toString(),
                config.architecture().cliName(),
                config.dSae(),
                SweepGrid.usesK(config.architecture()) ? config.k() : null,
                SweepGrid.usesL0Coeff(config.architecture()) ? config.l0Coeff() : null,
                SweepGrid.usesL1Coeff(config.architecture()) ? config.l1Coeff() : null,
                r.l0(),
                r.nmse(),
                r.explainedVariance(),
                r.deadFraction(),
                trainDead,
                downstream == null ? null : (Double) downstream.get("downstream_score"),
                downstream == null ? null : (Double) downstream.get("downstream_cosine"));
    }
}
