package ai.batchtopk.report;

import ai.batchtopk.io.AtomicFiles;
import java.io.IOException;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * {@code compare.html}: the SAEs of a sweep side by side, as the BatchTopK paper compares architectures:
 * held-out NMSE against L0 and downstream score against L0, one line per architecture (its SAEs in L0
 * order), the dead fraction against L0, the SAEs of equal d_sae and k next to each other, and a table of
 * every figure. One self-contained page (inline CSS and SVG, no scripts), written atomically.
 */
public final class ComparisonPage {
    public static final String FILE = "compare.html";

    /**
     * One SAE's figures.
     *
     * @param name its directory's name
     * @param architecture its architecture's command-line name
     * @param k null for an architecture that does not select k latents
     * @param l0Coeff JumpReLU's L0 weight, else null
     * @param l1Coeff ReLU's L1 weight, else null
     * @param l0 mean active latents per held-out token (inference rule)
     * @param nmse held-out normalised MSE
     * @param deadFraction latents that never fire on the held-out tokens, as a fraction of d_sae
     * @param trainDeadFraction latents dead at the end of training (not selected for dead_after_tokens), or null
     * @param downstreamScore {@code eval --text}'s downstream_score, or null without --text
     * @param downstreamCosine {@code eval --text}'s downstream_cosine, or null without --text
     */
    public record Entry(
            String name,
            String architecture,
            long dSae,
            Integer k,
            Double l0Coeff,
            Double l1Coeff,
            double l0,
            double nmse,
            double explainedVariance,
            double deadFraction,
            Double trainDeadFraction,
            Double downstreamScore,
            Double downstreamCosine) {}

    private ComparisonPage() {}

    /**
     * Writes {@code runDir/compare.html} atomically.
     *
     * @param heldOut what the held-out figures were computed on, for the page
     * @param text what the downstream figures were computed on, or null
     * @return the file written
     */
    public static Path write(Path runDir, List<Entry> entries, String heldOut, String text) throws IOException {
        Path out = runDir.resolve(FILE);
        AtomicFiles.writeString(out, html(runDir, entries, heldOut, text));
        return out;
    }

    static String html(Path runDir, List<Entry> entries, String heldOut, String text) {
        String dir = runDir.toAbsolutePath().normalize().toString();
        StringBuilder out = new StringBuilder(1 << 15);
        out.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>")
                .append(Html.escape(runDir.toAbsolutePath().normalize().getFileName() + " — SAE comparison"))
                .append("</title>\n<style>\n")
                .append(ReportPage.CSS)
                .append("table.cmp{border-collapse:collapse;background:#fff;border:1px solid #dde1e7}\n")
                .append("table.cmp th,table.cmp td{padding:3px 9px;border-bottom:1px solid #eef0f3;text-align:right}\n")
                .append(
                        "table.cmp th{background:#eef1f5}table.cmp td:first-child,table.cmp th:first-child{text-align:left}\n")
                .append("</style></head>\n<body><main>\n");
        out.append("<h1>Comparison of ")
                .append(entries.size())
                .append(" SAEs</h1>\n<p class=\"sub\">")
                .append(Html.escape(dir))
                .append(" · made ")
                .append(Html.escape(
                        ZonedDateTime.now().format(DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm z", Locale.ROOT))))
                .append("</p>\n");
        out.append("<p class=\"sub\">Held-out figures: ")
                .append(Html.escape(heldOut))
                .append(", with the inference rule")
                .append(" (BatchTopK: its threshold theta). ");
        out.append(
                text == null
                        ? "No downstream figures (give --text)."
                        : "Downstream score (1: the model's sentence embeddings untouched, 0: as bad as zeroing the hooked"
                                + " activation) with the SAE spliced into the model, on " + Html.escape(text) + ".");
        out.append("</p>\n<div class=\"grid\">\n");
        List<LineChart> charts = new ArrayList<>();
        charts.add(byArchitecture(entries, "Held-out NMSE vs L0", Entry::nmse));
        if (text != null) {
            charts.add(byArchitecture(entries, "Downstream score vs L0", Entry::downstreamScore));
        }
        charts.add(byArchitecture(entries, "Dead fraction (held out) vs L0", Entry::deadFraction)
                .fromZero());
        for (LineChart c : charts) {
            out.append("<div>").append(c.svg()).append("</div>\n");
        }
        out.append("</div>\n");
        sameK(out, entries, text != null);
        table(out, entries, text != null);
        out.append(
                "<footer>batchtopk compare · self-contained page (inline SVG and CSS)</footer>\n</main></body></html>\n");
        return out.toString();
    }

    /** One line per architecture, its SAEs in order of L0 (with markers: a sweep has few points). */
    private static LineChart byArchitecture(List<Entry> entries, String title, Function<Entry, Double> y) {
        LineChart chart = new LineChart(title, "L0 (active latents per held-out token)", false).markers();
        for (String arch : architectures(entries)) {
            List<Entry> line = entries.stream()
                    .filter(e -> e.architecture().equals(arch))
                    .sorted(Comparator.comparingDouble(Entry::l0))
                    .toList();
            double[] x = line.stream().mapToDouble(Entry::l0).toArray();
            Double[] ys = line.stream().map(y).toArray(Double[]::new);
            chart.add(new LineChart.Series(arch, x, ys));
        }
        return chart;
    }

    /** The SAEs of equal d_sae and k side by side: where architectures that take k meet at the same k. */
    private static void sameK(StringBuilder out, List<Entry> entries, boolean downstream) {
        Map<String, Map<String, Entry>> groups = new LinkedHashMap<>();
        entries.stream()
                .filter(e -> e.k() != null)
                .sorted(Comparator.comparingLong(Entry::dSae).thenComparingInt(Entry::k))
                .forEach(e -> groups.computeIfAbsent(e.dSae() + "/" + e.k(), g -> new LinkedHashMap<>())
                        .put(e.architecture(), e));
        groups.values().removeIf(g -> g.size() < 2);
        if (groups.isEmpty()) {
            return;
        }
        List<String> archs = architectures(
                groups.values().stream().flatMap(g -> g.values().stream()).toList());
        out.append(
                        "<h2>Same d_sae and k</h2>\n<p class=\"sub\">Held-out NMSE (L0) of each architecture trained with the")
                .append(" same d_sae and k")
                .append(downstream ? "; downstream score below" : "")
                .append(". Lower NMSE is better.</p>\n<table class=\"cmp\">\n<tr><th>d_sae</th><th>k</th>");
        archs.forEach(a -> out.append("<th>").append(Html.escape(a)).append("</th>"));
        out.append("</tr>\n");
        for (Map<String, Entry> group : groups.values()) {
            Entry any = group.values().iterator().next();
            out.append("<tr><td>")
                    .append(Html.number(any.dSae()))
                    .append("</td><td>")
                    .append(any.k())
                    .append("</td>");
            for (String a : archs) {
                Entry e = group.get(a);
                out.append("<td>")
                        .append(
                                e == null
                                        ? "–"
                                        : Html.number(e.nmse()) + " (" + Html.number(e.l0()) + ")"
                                                + (downstream ? "<br>" + Html.number(e.downstreamScore()) : ""))
                        .append("</td>");
            }
            out.append("</tr>\n");
        }
        out.append("</table>\n");
    }

    private static void table(StringBuilder out, List<Entry> entries, boolean downstream) {
        out.append("<h2>Every SAE</h2>\n<table class=\"cmp\" id=\"saes\">\n<tr><th>SAE</th><th>architecture</th>")
                .append("<th>d_sae</th><th>k</th><th>l0_coeff</th><th>l1_coeff</th><th>L0</th><th>NMSE</th>")
                .append("<th>explained variance</th><th>dead (held out)</th><th>dead (end of training)</th>");
        if (downstream) {
            out.append("<th>downstream cosine</th><th>downstream score</th>");
        }
        out.append("</tr>\n");
        for (Entry e : entries) {
            out.append("<tr><td>")
                    .append(Html.escape(e.name()))
                    .append("</td><td>")
                    .append(Html.escape(e.architecture()));
            for (Object v : new Object[] {
                e.dSae(),
                e.k(),
                e.l0Coeff(),
                e.l1Coeff(),
                e.l0(),
                e.nmse(),
                e.explainedVariance(),
                e.deadFraction(),
                e.trainDeadFraction()
            }) {
                out.append("</td><td>").append(Html.number(v));
            }
            if (downstream) {
                out.append("</td><td>")
                        .append(Html.number(e.downstreamCosine()))
                        .append("</td><td>")
                        .append(Html.number(e.downstreamScore()));
            }
            out.append("</td></tr>\n");
        }
        out.append("</table>\n");
    }

    private static List<String> architectures(List<Entry> entries) {
        Set<String> archs = new LinkedHashSet<>();
        entries.forEach(e -> archs.add(e.architecture()));
        return List.copyOf(archs);
    }
}
