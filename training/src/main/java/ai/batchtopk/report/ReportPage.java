package ai.batchtopk.report;

import ai.batchtopk.train.EvalLine;
import ai.batchtopk.train.MetricsLine;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;

/** The HTML page: header, configuration, final metrics, charts, histograms and latent contexts. */
final class ReportPage {
    static final String CSS = """
            body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;
              background:#f6f7f9;color:#1d2330;font-size:14px}
            main{max-width:1240px;margin:0 auto;padding:18px 20px 40px}
            h1{font-size:22px;margin:4px 0 2px}h2{font-size:17px;margin:26px 0 8px;border-bottom:1px solid #d5d9e0;
              padding-bottom:4px}h3{font-size:14px;margin:0 0 2px}
            .sub{color:#5a6372;margin:0 0 12px}.note{background:#fff6df;border:1px solid #ecd9a4;padding:8px 10px;
              border-radius:4px;margin:8px 0}
            .cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:8px}
            .card{background:#fff;border:1px solid #dde1e7;border-radius:5px;padding:7px 10px}
            .card b{display:block;font-size:17px}.card span{color:#5a6372;font-size:12px}
            table.kv{border-collapse:collapse;background:#fff;border:1px solid #dde1e7}
            table.kv td{padding:3px 10px;border-bottom:1px solid #eef0f3;vertical-align:top}
            table.kv td:first-child{color:#5a6372}
            .cols{display:grid;grid-template-columns:1fr 1fr;gap:14px;align-items:start}
            .grid{display:grid;grid-template-columns:1fr 1fr;gap:12px}
            svg.chart{width:100%;height:auto;background:#fff;border:1px solid #dde1e7;border-radius:5px}
            svg .title{font-size:14px;font-weight:600;fill:#1d2330}svg .tick{font-size:11px;fill:#4a5260}
            svg .axis{font-size:12px;fill:#4a5260}svg .note{font-size:13px;fill:#8a93a2}
            svg .plot{fill:none;stroke:#c4cad3}svg .grid{stroke:#eceff3}svg .axisline{stroke:#9aa3b0}
            svg .bar{fill:#4c78a8}svg .extra{fill:#c44e52}
            svg .extralabel{fill:#c44e52;font-weight:600}svg .mark{stroke:#d62728;stroke-dasharray:4 3;stroke-width:1.5}
            svg .marklabel{fill:#d62728;paint-order:stroke;stroke:#fff;stroke-width:3px}
            .kvs{display:grid;grid-template-columns:2fr 1fr;gap:14px;align-items:start}
            .kv2{column-count:2;column-gap:0;background:#fff;border:1px solid #dde1e7}
            .kv2 div{display:flex;justify-content:space-between;gap:10px;padding:3px 10px;border-bottom:1px solid #eef0f3;
              break-inside:avoid}.kv2 div span:first-child{color:#5a6372}
            .latents{display:grid;grid-template-columns:1fr 1fr;gap:12px}
            section.latent{background:#fff;border:1px solid #dde1e7;border-radius:5px;padding:8px 10px;overflow:hidden}
            .meta{color:#5a6372;margin:0 0 6px;font-size:12px}
            table.ctx{border-collapse:collapse;width:100%;table-layout:fixed}
            table.ctx td{padding:2px 4px;border-top:1px solid #f0f2f5;font-size:12px;vertical-align:top}
            td.act{width:52px;text-align:right;font-variant-numeric:tabular-nums;color:#b35900;font-weight:600}
            td.doc{width:44px;color:#8a93a2;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
            td.text{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace}
            .tok{display:inline-block;white-space:pre;border-radius:2px;margin:0 1px 1px 0;padding:0 1px;
              box-shadow:inset 0 -1px #d3d8df}
            .hit{outline:1.5px solid #b35900;font-weight:700}
            footer{color:#8a93a2;margin-top:30px;font-size:12px}
            """;

    private final Path runDir;
    private final Path saeDir;
    private final JsonNode cfg;
    private final List<MetricsLine> metrics;
    private final List<EvalLine> eval;
    private final List<String> notes = new ArrayList<>();
    private ActivationSample sample;
    private String sampleDescription;
    private Path tokens;
    private int latentCount;
    private String contexts;

    ReportPage(Path runDir, Path saeDir, JsonNode cfg, List<MetricsLine> metrics, List<EvalLine> eval) {
        this.runDir = runDir;
        this.saeDir = saeDir;
        this.cfg = cfg;
        this.metrics = metrics;
        this.eval = eval;
    }

    void note(String text) {
        notes.add(text);
    }

    void sample(ActivationSample s, String description) {
        this.sample = s;
        this.sampleDescription = description;
    }

    void contexts(Path tokensFile, int count, String html) {
        this.tokens = tokensFile;
        this.latentCount = count;
        this.contexts = html;
    }

    String html() {
        JsonNode ours = cfg.path("batchtopk").isObject() ? cfg.get("batchtopk") : JsonNodeFactory.instance.objectNode();
        long dSae = (ours.has("d_sae") ? ours : cfg).path("d_sae").asLong();
        String arch = text((ours.has("architecture") ? ours : cfg).get("architecture"));
        String name = runDir.toAbsolutePath().normalize().getFileName() == null
                ? runDir.toString()
                : runDir.toAbsolutePath().normalize().getFileName().toString();
        StringBuilder out = new StringBuilder(1 << 16);
        out.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>")
                .append(Html.escape(name + " — " + arch + " SAE report"))
                .append("</title>\n<style>\n")
                .append(CSS)
                .append("</style></head>\n<body><main>\n");
        out.append("<h1>")
                .append(Html.escape(name))
                .append(" <span class=\"sub\">")
                .append(Html.escape(arch))
                .append(" SAE, d_in ")
                .append(Html.escape(text((ours.has("d_in") ? ours : cfg).get("d_in"))))
                .append(", d_sae ")
                .append(dSae);
        if (ours.hasNonNull("k") && !"relu".equals(arch)) {
            out.append(", k ").append(Html.escape(text(ours.get("k"))));
        }
        out.append("</span></h1>\n<p class=\"sub\">")
                .append(Html.escape(runDir.toAbsolutePath().normalize().toString()))
                .append(" · report made ")
                .append(Html.escape(
                        ZonedDateTime.now().format(DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm z", Locale.ROOT))))
                .append("</p>\n");
        for (String n : notes) {
            out.append("<p class=\"note\">").append(Html.escape(n)).append("</p>\n");
        }
        finalMetrics(out, dSae);
        out.append("<h2>Configuration</h2>\n<div class=\"kvs\">");
        Map<String, Object> config = scalars(ours.isEmpty() ? cfg : ours);
        config.remove("format_version");
        out.append("<div class=\"kv2\">\n");
        config.forEach((k, v) -> out.append("<div><span>")
                .append(Html.escape(k))
                .append("</span><span>")
                .append(Html.escape(v instanceof Number ? Html.number(v) : String.valueOf(v)))
                .append("</span></div>\n"));
        out.append("</div>\n");
        Map<String, Object> meta = new LinkedHashMap<>();
        meta.put("SAE directory", saeDir.toAbsolutePath().normalize().toString());
        if (cfg.path("metadata").isObject()) {
            cfg.get("metadata").properties().forEach(e -> {
                if (!e.getValue().isNull()) {
                    meta.put(e.getKey(), value(e.getValue()));
                }
            });
        }
        for (String key : List.of("normalize_activations", "apply_b_dec_to_input", "dtype", "device")) {
            if (cfg.hasNonNull(key)) {
                meta.put("cfg " + key, value(cfg.get(key)));
            }
        }
        keyValues(out, meta);
        out.append("</div>\n");
        charts(out, dSae);
        histograms(out);
        if (contexts != null) {
            out.append("<h2>Top activations of ")
                    .append(latentCount)
                    .append(" latents</h2>\n<p class=\"sub\">Live latents ")
                    .append("picked evenly across firing frequency; each with its top 8 activations on the sample, ")
                    .append(TokenContexts.BEFORE)
                    .append(" tokens before and ")
                    .append(TokenContexts.AFTER)
                    .append(" after (same document). The activating token is outlined; shading is the latent's ")
                    .append("activation relative to its maximum. Tokens from ")
                    .append(Html.escape(tokens.toString()))
                    .append(".</p>\n<div class=\"latents\">\n")
                    .append(contexts)
                    .append("</div>\n");
        }
        out.append(
                "<footer>batchtopk report · self-contained page (inline SVG and CSS)</footer>\n</main></body></html>\n");
        return out.toString();
    }

    private void finalMetrics(StringBuilder out, long dSae) {
        MetricsLine last = metrics.getLast();
        out.append("<h2>Final metrics</h2>\n<div class=\"cards\">\n");
        card(out, "step", last.step());
        card(out, "tokens trained", last.tokens());
        card(out, "loss", last.loss());
        card(out, "mse", last.mse());
        card(out, "NMSE (train batch)", last.nmse());
        card(out, "L0 (train batch)", last.l0());
        Long dead = last.dead();
        card(
                out,
                "dead latents",
                dead == null
                        ? null
                        : Html.number(dead)
                                + (dSae > 0 ? String.format(Locale.ROOT, " (%.1f%%)", 100.0 * dead / dSae) : ""));
        card(out, "theta", last.theta());
        card(out, "aux loss", last.auxLoss());
        card(out, "tokens / s", last.tokensPerS());
        if (!eval.isEmpty()) {
            EvalLine e = eval.getLast();
            String at = e.step() == null ? "eval" : "eval @ " + Html.number(e.step());
            card(out, "NMSE (" + at + ")", e.nmse());
            card(out, "explained variance (" + at + ")", e.explainedVariance());
            card(out, "L0 (" + at + ")", e.l0());
            card(out, "dead fraction (" + at + ")", e.deadFraction());
        }
        if (sample != null) {
            card(out, "L0 (sample, inference)", sample.meanL0());
            card(
                    out,
                    "latents silent on sample",
                    String.format(Locale.ROOT, "%,d (%.1f%%)", sample.dead(), 100.0 * sample.dead() / sample.dSae));
        }
        out.append("</div>\n");
    }

    private static void card(StringBuilder out, String label, Object value) {
        out.append("<div class=\"card\"><b>")
                .append(Html.escape(value instanceof String s ? s : Html.number(value)))
                .append("</b><span>")
                .append(Html.escape(label))
                .append("</span></div>\n");
    }

    private static void keyValues(StringBuilder out, Map<String, Object> map) {
        out.append("<table class=\"kv\">\n");
        map.forEach((k, v) -> out.append("<tr><td>")
                .append(Html.escape(k))
                .append("</td><td>")
                .append(Html.escape(
                        v instanceof Number ? Html.number(v) : String.valueOf(v).replace(",", ", ")))
                .append("</td></tr>\n"));
        out.append("</table>\n");
    }

    private void charts(StringBuilder out, long dSae) {
        double[] x = new double[metrics.size()];
        double[] steps = new double[metrics.size()];
        boolean haveTokens = metrics.stream().allMatch(m -> m.tokens() != null);
        for (int i = 0; i < x.length; i++) {
            steps[i] = asDouble(metrics.get(i).step());
            x[i] = haveTokens ? asDouble(metrics.get(i).tokens()) : steps[i];
        }
        double[] ex = new double[eval.size()];
        for (int i = 0; i < ex.length; i++) {
            EvalLine e = eval.get(i);
            ex[i] = haveTokens && e.tokens() != null
                    ? e.tokens()
                    : haveTokens ? interpolate(steps, x, asDouble(e.step())) : asDouble(e.step());
        }
        String xLabel = haveTokens ? "tokens trained" : "step";
        List<LineChart> charts = new ArrayList<>();
        charts.add(new LineChart("Loss", xLabel, true)
                .add(series("loss", x, metrics, MetricsLine::loss))
                .add(series("mse", x, metrics, MetricsLine::mse))
                .add(series("aux_loss", x, metrics, MetricsLine::auxLoss)));
        LineChart nmse = new LineChart("NMSE (fraction of variance unexplained)", xLabel, true)
                .add(series("train batch", x, metrics, MetricsLine::nmse));
        LineChart l0 = new LineChart("L0 (active latents per token)", xLabel, false)
                .fromZero()
                .add(series("train batch", x, metrics, MetricsLine::l0));
        Double[] deadFraction = new Double[metrics.size()];
        for (int i = 0; i < deadFraction.length; i++) {
            Long d = metrics.get(i).dead();
            deadFraction[i] = d != null && dSae > 0 ? d.doubleValue() / dSae : null;
        }
        LineChart dead = new LineChart("Dead latents (fraction of d_sae)", xLabel, false)
                .fromZero()
                .add(new LineChart.Series("train", x, deadFraction));
        if (!eval.isEmpty()) {
            nmse.add(new LineChart.Series("eval", ex, values(eval, EvalLine::nmse), true));
            l0.add(new LineChart.Series("eval", ex, values(eval, EvalLine::l0), true));
            dead.add(new LineChart.Series("eval", ex, values(eval, EvalLine::deadFraction), true));
        }
        charts.add(nmse);
        charts.add(l0);
        charts.add(dead);
        charts.add(new LineChart("theta (inference threshold)", xLabel, false)
                .add(series("theta", x, metrics, MetricsLine::theta)));
        if (!eval.isEmpty()) {
            charts.add(new LineChart("Explained variance (eval)", xLabel, false)
                    .add(new LineChart.Series("eval", ex, values(eval, EvalLine::explainedVariance), true)));
        }
        charts.add(new LineChart("Gradient norm", xLabel, true)
                .add(series("grad_norm", x, metrics, MetricsLine::gradNorm)));
        // The first line's throughput is measured over a warm-up step or none at all: left out.
        Double[] speed = values(metrics, MetricsLine::tokensPerS);
        if (speed.length > 2) {
            speed[0] = null;
        }
        charts.add(new LineChart("Throughput (tokens / s)", xLabel, false)
                .fromZero()
                .add(new LineChart.Series("tokens/s", x, speed)));
        Double[] lr = values(metrics, MetricsLine::lr);
        if (java.util.Arrays.stream(lr).filter(v -> v != null).distinct().count() > 1) {
            charts.add(new LineChart("Learning rate", xLabel, false).add(new LineChart.Series("lr", x, lr)));
        }
        out.append("<h2>Training curves</h2>\n<p class=\"sub\">")
                .append(metrics.size())
                .append(" logged steps")
                .append(eval.isEmpty() ? "" : " and " + eval.size() + " evaluations (dashed)")
                .append(". Train-batch values use the training rule; eval and sample values the inference rule.</p>\n");
        out.append("<div class=\"grid\">\n");
        for (LineChart c : charts) {
            if (!c.isEmpty()) {
                out.append("<div>").append(c.svg()).append("</div>\n");
            }
        }
        out.append("</div>\n");
    }

    private void histograms(StringBuilder out) {
        if (sample == null) {
            return;
        }
        out.append("<h2>Sample: L0 and firing density</h2>\n<p class=\"sub\">")
                .append(Html.escape("Encoded with the inference rule: " + sampleDescription + "."))
                .append("</p>\n<div class=\"grid\">\n<div>");
        out.append(Histogram.ofIntegers(
                        "Per-token L0 (" + String.format(Locale.ROOT, "%,d", sample.tokens) + " tokens)",
                        "active latents per token",
                        sample.l0Counts,
                        50)
                .mark("mean", sample.meanL0())
                .svg());
        out.append("</div>\n<div>");
        // log10 frequency of every live latent; the least it can be is one firing in the sample.
        double lowest = -Math.log10(sample.tokens);
        double lo = Math.floor(Math.min(lowest, -1) * 4) / 4;
        int bins = (int) Math.round(-lo * 4);
        double[] edges = new double[bins + 1];
        for (int i = 0; i <= bins; i++) {
            edges[i] = lo + i * 0.25;
        }
        long[] counts = new long[bins];
        for (long c : sample.fires) {
            if (c > 0) {
                double v = Math.log10((double) c / sample.tokens);
                counts[Math.min(bins - 1, Math.max(0, (int) Math.floor((v - lo) / 0.25)))]++;
            }
        }
        double meanLog = 0;
        long live = sample.dSae - sample.dead();
        for (long c : sample.fires) {
            if (c > 0) {
                meanLog += Math.log10((double) c / sample.tokens) / live;
            }
        }
        Histogram density = new Histogram(
                        "Latent firing density (" + String.format(Locale.ROOT, "%,d", sample.dSae) + " latents)",
                        "log10 firing frequency",
                        edges,
                        counts)
                .extra("dead", sample.dead());
        if (live > 0) {
            density.mark("mean", meanLog);
        }
        out.append(density.svg()).append("</div>\n</div>\n");
    }

    private static LineChart.Series series(
            String name, double[] x, List<MetricsLine> lines, Function<MetricsLine, Double> key) {
        return new LineChart.Series(name, x, values(lines, key));
    }

    private static <T> Double[] values(List<T> lines, Function<T, Double> key) {
        return lines.stream().map(key).toArray(Double[]::new);
    }

    /** y at x by the straight line through the known points (extended past the ends). */
    static double interpolate(double[] xs, double[] ys, double at) {
        if (xs.length == 1) {
            return xs[0] == 0 ? ys[0] : ys[0] * at / xs[0];
        }
        int i = 1;
        while (i < xs.length - 1 && xs[i] < at) {
            i++;
        }
        double x0 = xs[i - 1], x1 = xs[i];
        return x1 == x0 ? ys[i] : ys[i - 1] + (ys[i] - ys[i - 1]) * (at - x0) / (x1 - x0);
    }

    /** The object's keys with a scalar value, in order. */
    private static Map<String, Object> scalars(JsonNode object) {
        Map<String, Object> out = new LinkedHashMap<>();
        object.properties().forEach(e -> {
            if (e.getValue().isValueNode()) {
                out.put(e.getKey(), value(e.getValue()));
            }
        });
        return out;
    }

    /** A scalar for display: a number as a Number, null as "null", anything else as its text. */
    private static Object value(JsonNode v) {
        return v.isNumber() ? v.numberValue() : v.isValueNode() ? v.asText() : v.toString();
    }

    private static String text(JsonNode v) {
        return v == null ? "null" : String.valueOf(value(v));
    }

    private static double asDouble(Long value) {
        return value == null ? Double.NaN : value;
    }
}
