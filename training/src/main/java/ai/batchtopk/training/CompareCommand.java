package ai.batchtopk.training;

import ai.batchtopk.EvalResult;
import ai.batchtopk.NativeLibrary;
import ai.batchtopk.Sae;
import ai.batchtopk.SaeLens;
import ai.batchtopk.data.ActivationData;
import ai.batchtopk.extract.ExtractorConfig;
import ai.batchtopk.extract.Site;
import ai.batchtopk.extract.SplicedModel;
import ai.batchtopk.io.JsonCodec;
import ai.batchtopk.report.ComparisonPage;
import ai.batchtopk.train.EvalSet;
import ai.batchtopk.train.MetricsLog;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code batchtopk compare RUN_DIR}: the SAEs of a sweep ({@code train --sweep arch=... --sweep k=...}) side
 * by side in {@code RUN_DIR/compare.html} ({@link ComparisonPage}), and as one JSON line. Held-out figures come
 * from {@code --eval-data} (evaluated here, inference rule) or else from each SAE's last {@code eval.jsonl} line;
 * the downstream figures from {@code --text}, the SAEs spliced into the model ({@link DownstreamFidelity}, the
 * figures of {@code eval --text}).
 */
@Command(
        name = "compare",
        sortOptions = false,
        usageHelpAutoWidth = true,
        description = "Compare the SAEs of a sweep: held-out NMSE and downstream score against L0, one line per"
                + " architecture, in RUN_DIR/compare.html; prints one JSON line.")
final class CompareCommand implements Callable<Integer> {
    @Mixin
    CommonOptions common;

    @Spec
    CommandSpec spec;

    @Parameters(
            index = "0",
            paramLabel = "RUN_DIR",
            description = "The --out of a train run: its SAE subdirectories (a sweep), or the SAE itself.")
    Path run;

    @Option(
            names = "--eval-data",
            paramLabel = "FILE|DIR",
            description =
                    "Held-out activations to evaluate every SAE on (default: each SAE's last eval.jsonl line). Repeatable.")
    List<Path> evalData;

    @Option(
            names = "--eval-tokens",
            paramLabel = "N",
            defaultValue = "16384",
            description = "Rows of --eval-data to evaluate on: the first N (default: ${DEFAULT-VALUE}).")
    long evalTokens;

    @Option(
            names = "--text",
            paramLabel = "FILE|DIR",
            description = "Text to run the model on with each SAE spliced in: adds the downstream score. Repeatable.")
    List<Path> text;

    @Option(
            names = "--layer",
            paramLabel = "L",
            description = "With --text: the hooked layer (default: from the SAEs' cfg.json).")
    Integer layer;

    @Option(
            names = "--site",
            paramLabel = "resid|mlp",
            description = "With --text: the hooked site (default: from the SAEs' cfg.json).")
    Site site;

    @Option(
            names = "--threads",
            paramLabel = "N",
            description = "Native intra-op threads (default: the number of cores).")
    Integer threads;

    @Override
    public Integer call() throws IOException {
        if (evalTokens <= 0) {
            throw new ParameterException(spec.commandLine(), "--eval-tokens must be positive, got " + evalTokens);
        }
        if (text == null && (layer != null || site != null)) {
            throw new ParameterException(spec.commandLine(), "--layer and --site go with --text");
        }
        ResourceLimits.checkThreads(spec.commandLine(), threads);
        NativeLibrary.setNumThreads(
                threads != null ? threads : Runtime.getRuntime().availableProcessors());
        List<SweepMember> members = SweepMember.of(run);
        List<String> documents = text == null ? null : EvalCommand.documentsOf(text);
        List<Sae> saes = new ArrayList<>();
        try (Arena arena = Arena.ofShared()) {
            for (SweepMember m : members) {
                saes.add(SaeLens.load(m.dir()));
            }
            List<EvalResult> heldOut = heldOut(members, saes, arena);
            List<Map<String, Object>> downstream = documents == null ? null : downstream(members, saes, documents);
            List<ComparisonPage.Entry> entries = new ArrayList<>();
            for (int i = 0; i < members.size(); i++) {
                entries.add(members.get(i).entry(heldOut.get(i), downstream == null ? null : downstream.get(i)));
            }
            String heldOutFrom = evalData != null
                    ? "the first " + heldOut.getFirst().tokens() + " rows of "
                            + evalData.stream().map(Path::toString).collect(Collectors.joining(", "))
                    : "each SAE's last evaluation in its eval.jsonl";
            String textFrom = text == null
                    ? null
                    : text.stream().map(Path::toString).collect(Collectors.joining(", "))
                            + " (" + downstream.getFirst().get("downstream_sequences") + " sequences, "
                            + downstream.getFirst().get("tokens") + " tokens)";
            Path page = ComparisonPage.write(run, entries, heldOutFrom, textFrom);
            spec.commandLine().getOut().println(JsonCodec.write(summary(page, entries)));
            return Main.OK;
        } finally {
            saes.forEach(Sae::close);
        }
    }

    /** Each SAE on --eval-data (the same rows for all), or its last eval.jsonl line. */
    private List<EvalResult> heldOut(List<SweepMember> members, List<Sae> saes, Arena arena) throws IOException {
        List<EvalResult> results = new ArrayList<>();
        if (evalData != null) {
            ActivationData data = ActivationData.open(evalData, arena);
            try (EvalSet set = new EvalSet(data, evalTokens)) {
                for (int i = 0; i < saes.size(); i++) {
                    if (saes.get(i).dIn() != data.width()) {
                        throw new CommandFailure("--eval-data has width d = " + data.width() + " (" + data.describe()
                                + ") but the SAE " + members.get(i).dir() + " has d_in = "
                                + saes.get(i).dIn());
                    }
                    results.add(set.evaluate(saes.get(i)));
                }
            }
            return results;
        }
        List<String> without = members.stream()
                .filter(m -> !m.evaluated())
                .map(m -> m.dir().getFileName().toString())
                .toList();
        if (!without.isEmpty()) {
            throw new CommandFailure("no held-out evaluation (eval.jsonl) for " + String.join(", ", without)
                    + ": give --eval-data FILE|DIR (or train with --eval-data)");
        }
        for (SweepMember m : members) {
            results.add(m.lastEvalResult());
        }
        return results;
    }

    /** Every SAE spliced into the model on the same text; they must read the same hook. */
    private List<Map<String, Object>> downstream(List<SweepMember> members, List<Sae> saes, List<String> documents)
            throws IOException {
        ExtractorConfig config = null;
        for (int i = 0; i < members.size(); i++) {
            Path dir = members.get(i).dir();
            ExtractorConfig hook = SaeHook.resolve(dir, layer, site);
            if (config == null) {
                config = hook;
            } else if (!hook.equals(config)) {
                throw new CommandFailure(
                        "the SAEs read different hooks: " + members.getFirst().dir() + " " + config.hookName() + ", "
                                + dir + " " + hook.hookName() + "; --text compares SAEs of one hook");
            }
            if (saes.get(i).dIn() != hook.width()) {
                throw new CommandFailure(
                        "the SAE " + dir + " has d_in = " + saes.get(i).dIn() + " but "
                                + hook.model().label() + "'s layer " + hook.layer() + " "
                                + hook.site().label()
                                + " activations have d = " + hook.width());
            }
        }
        try (SplicedModel model = SplicedModel.open(config)) {
            return DownstreamFidelity.measureAll(saes, model, documents);
        }
    }

    private static Map<String, Object> summary(Path page, List<ComparisonPage.Entry> entries) {
        List<Map<String, Object>> saes = new ArrayList<>();
        for (ComparisonPage.Entry e : entries) {
            Map<String, Object> one = new LinkedHashMap<>();
            one.put("name", e.name());
            one.put("architecture", e.architecture());
            one.put("d_sae", e.dSae());
            one.put("k", e.k());
            one.put("l0_coeff", e.l0Coeff());
            one.put("l1_coeff", e.l1Coeff());
            one.put("l0", MetricsLog.finite(e.l0()));
            one.put("nmse", MetricsLog.finite(e.nmse()));
            one.put("explained_variance", MetricsLog.finite(e.explainedVariance()));
            one.put("dead_fraction", e.deadFraction());
            one.put("train_dead_fraction", e.trainDeadFraction());
            if (e.downstreamScore() != null || e.downstreamCosine() != null) {
                one.put("downstream_cosine", e.downstreamCosine());
                one.put("downstream_score", e.downstreamScore());
            }
            saes.add(one);
        }
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("out", page.toAbsolutePath().normalize().toString());
        line.put("saes", saes);
        return line;
    }
}
