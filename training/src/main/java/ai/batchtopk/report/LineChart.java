package ai.batchtopk.report;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * An inline SVG line chart: a title, axes with a few tick labels, one or more series and a legend when
 * there are several. The y axis may be logarithmic (then points with y &lt;= 0 are left out). A null y
 * breaks a line (a diverged step logged as null).
 */
final class LineChart {
    static final int WIDTH = 600;
    static final int HEIGHT = 280;
    private static final int LEFT = 64;
    private static final int RIGHT = 16;
    private static final int TOP = 48;
    private static final int BOTTOM = 44;
    static final String[] COLORS = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"};

    /** One line: its points in x order; y may be null. */
    record Series(String name, double[] x, Double[] y, boolean dashed) {
        Series(String name, double[] x, Double[] y) {
            this(name, x, y, false);
        }
    }

    private final String title;
    private final String xLabel;
    private final boolean logY;
    private final List<Series> series = new ArrayList<>();
    private boolean fromZero;
    private boolean markers;

    LineChart(String title, String xLabel, boolean logY) {
        this.title = title;
        this.xLabel = xLabel;
        this.logY = logY;
    }

    /** A linear y axis that starts at 0 (counts, fractions), and spans [0, 1] when every value is 0. */
    LineChart fromZero() {
        this.fromZero = true;
        return this;
    }

    /** A dot at every point as well: for lines of a few points each (a sweep's SAEs). */
    LineChart markers() {
        this.markers = true;
        return this;
    }

    LineChart add(Series s) {
        series.add(s);
        return this;
    }

    boolean isEmpty() {
        return series.stream().noneMatch(s -> s.x().length > 0 && hasPlottable(s));
    }

    private boolean hasPlottable(Series s) {
        for (Double v : s.y()) {
            if (plottable(v)) {
                return true;
            }
        }
        return false;
    }

    private boolean plottable(Double v) {
        return v != null && Double.isFinite(v) && (!logY || v > 0);
    }

    /** The chart as an {@code <svg>} element. */
    String svg() {
        StringBuilder out = new StringBuilder();
        out.append("<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 ")
                .append(WIDTH)
                .append(' ')
                .append(HEIGHT)
                .append("\" role=\"img\" aria-label=\"")
                .append(Html.escape(title))
                .append("\">\n");
        out.append(text(WIDTH / 2.0, 20, "middle", "title", title));
        double xMin = Double.POSITIVE_INFINITY, xMax = Double.NEGATIVE_INFINITY;
        double yMin = Double.POSITIVE_INFINITY, yMax = Double.NEGATIVE_INFINITY;
        for (Series s : series) {
            for (int i = 0; i < s.x().length; i++) {
                if (plottable(s.y()[i])) {
                    xMin = Math.min(xMin, s.x()[i]);
                    xMax = Math.max(xMax, s.x()[i]);
                    yMin = Math.min(yMin, s.y()[i]);
                    yMax = Math.max(yMax, s.y()[i]);
                }
            }
        }
        if (xMin > xMax) {
            out.append(text(WIDTH / 2.0, HEIGHT / 2.0, "middle", "note", "no data"))
                    .append("</svg>\n");
            return out.toString();
        }
        Axis xAxis = Axis.linear(xMin, xMax);
        if (fromZero && !logY) {
            yMin = Math.min(0, yMin);
            yMax = yMax <= 0 ? 1 : yMax;
        }
        Axis yAxis = logY ? Axis.log(yMin, yMax) : Axis.linear(yMin, yMax);
        double plotW = WIDTH - LEFT - RIGHT, plotH = HEIGHT - TOP - BOTTOM;
        out.append(String.format(
                Locale.ROOT,
                "<rect class=\"plot\" x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\"/>\n",
                LEFT,
                TOP,
                plotW,
                plotH));
        for (double t : yAxis.ticks()) {
            double py = TOP + plotH * (1 - yAxis.fraction(t));
            out.append(line(LEFT, py, LEFT + plotW, py, "grid"));
            out.append(text(LEFT - 6, py + 4, "end", "tick", Axis.format(t)));
        }
        for (double t : xAxis.ticks()) {
            double px = LEFT + plotW * xAxis.fraction(t);
            out.append(line(px, TOP, px, TOP + plotH, "grid"));
            out.append(text(px, TOP + plotH + 16, "middle", "tick", Axis.format(t)));
        }
        out.append(text(LEFT + plotW / 2, HEIGHT - 8, "middle", "axis", xLabel + (logY ? "   (y: log scale)" : "")));
        for (int si = 0; si < series.size(); si++) {
            Series s = series.get(si);
            String color = COLORS[si % COLORS.length];
            StringBuilder d = new StringBuilder();
            StringBuilder dots = new StringBuilder();
            boolean pen = false;
            int points = 0;
            for (int i = 0; i < s.x().length; i++) {
                if (!plottable(s.y()[i])) {
                    pen = false;
                    continue;
                }
                double px = LEFT + plotW * xAxis.fraction(s.x()[i]);
                double py = TOP + plotH * (1 - yAxis.fraction(s.y()[i]));
                d.append(pen ? " L" : " M").append(String.format(Locale.ROOT, "%.1f %.1f", px, py));
                if (markers) {
                    dots.append(String.format(
                            Locale.ROOT, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>%n", px, py, color));
                }
                pen = true;
                points++;
            }
            if (points == 1) {
                // A lone point has no length: draw it as a dot.
                String[] xy = d.substring(2).split(" ");
                out.append(String.format(
                        Locale.ROOT, "<circle cx=\"%s\" cy=\"%s\" r=\"3\" fill=\"%s\"/>\n", xy[0], xy[1], color));
            } else if (points > 1) {
                // Earlier lines wider, so that a line drawn over an equal one (loss = mse) still shows.
                double width = series.size() > 1 ? Math.max(1.2, 3.0 - 0.8 * si) : 1.6;
                out.append("<path fill=\"none\" stroke=\"")
                        .append(color)
                        .append("\" stroke-width=\"")
                        .append(String.format(Locale.ROOT, "%.1f", width))
                        .append('"')
                        .append(s.dashed() ? " stroke-dasharray=\"5 3\"" : "")
                        .append(" d=\"")
                        .append(d.toString().strip())
                        .append("\"/>\n");
                out.append(dots);
            }
        }
        if (series.size() > 1) {
            legend(out, LEFT + plotW);
        }
        out.append("</svg>\n");
        return out.toString();
    }

    /** One row above the plot, right-aligned: a short line of each series' colour and its name. */
    private void legend(StringBuilder out, double right) {
        double x = right;
        double y = TOP - 10;
        for (int i = series.size() - 1; i >= 0; i--) {
            Series s = series.get(i);
            String name = hasPlottable(s) ? s.name() : s.name() + " (none > 0)";
            x -= name.length() * 6.4 + 4;
            out.append(text(x, y + 4, "start", "tick", name));
            x -= 22;
            out.append(String.format(
                    Locale.ROOT,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s/>%n",
                    x,
                    y,
                    x + 18,
                    y,
                    COLORS[i % COLORS.length],
                    s.dashed() ? " stroke-dasharray=\"5 3\"" : ""));
            x -= 14;
        }
    }

    static String line(double x1, double y1, double x2, double y2, String cls) {
        return String.format(
                Locale.ROOT,
                "<line class=\"%s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
                cls,
                x1,
                y1,
                x2,
                y2);
    }

    static String text(double x, double y, String anchor, String cls, String content) {
        return String.format(
                Locale.ROOT,
                "<text class=\"%s\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">%s</text>\n",
                cls,
                x,
                y,
                anchor,
                Html.escape(content));
    }

    /** A linear or log10 mapping of a value range onto [0, 1], with its tick values. */
    record Axis(double min, double max, boolean log, double[] ticks) {
        double fraction(double v) {
            double a = log ? Math.log10(min) : min, b = log ? Math.log10(max) : max, x = log ? Math.log10(v) : v;
            return b == a ? 0.5 : (x - a) / (b - a);
        }

        /** Rounded to "nice" steps (1, 2, 5 x 10^n), about five ticks. */
        static Axis linear(double min, double max) {
            if (min == max) {
                double pad = min == 0 ? 1 : Math.abs(min) * 0.1;
                min -= pad;
                max += pad;
            }
            double step = niceStep((max - min) / 5);
            double lo = Math.floor(min / step) * step, hi = Math.ceil(max / step) * step;
            List<Double> ticks = new ArrayList<>();
            for (int i = 0; lo + i * step <= hi + step * 1e-9; i++) {
                ticks.add(clean(lo + i * step, step));
            }
            return new Axis(
                    lo,
                    hi,
                    false,
                    ticks.stream().mapToDouble(Double::doubleValue).toArray());
        }

        /** Whole decades; with fewer than three decades, 2 and 5 times each as well. */
        static Axis log(double min, double max) {
            int lo = (int) Math.floor(Math.log10(min)), hi = (int) Math.ceil(Math.log10(max));
            if (hi == lo) {
                hi++;
            }
            List<Double> ticks = new ArrayList<>();
            boolean fine = hi - lo < 3;
            for (int e = lo; e <= hi; e++) {
                double p = Math.pow(10, e);
                ticks.add(p);
                if (fine && e < hi) {
                    ticks.add(2 * p);
                    ticks.add(5 * p);
                }
            }
            double lower = Math.pow(10, lo), upper = Math.pow(10, hi);
            if (fine) {
                // Tighten the range to the ticks around the data, so the lines are not squeezed.
                for (double t : ticks) {
                    if (t <= min) {
                        lower = t;
                    }
                }
                for (int i = ticks.size() - 1; i >= 0; i--) {
                    if (ticks.get(i) >= max) {
                        upper = ticks.get(i);
                    }
                }
            }
            double a = lower, b = upper;
            return new Axis(
                    a,
                    b,
                    true,
                    ticks.stream()
                            .mapToDouble(Double::doubleValue)
                            .filter(t -> t >= a && t <= b)
                            .toArray());
        }

        static double niceStep(double raw) {
            double p = Math.pow(10, Math.floor(Math.log10(raw)));
            double f = raw / p;
            return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
        }

        private static double clean(double v, double step) {
            return Math.abs(v) < step * 1e-9 ? 0 : v;
        }

        /** Short tick labels: 0, 0.25, 1.5k, 20M, 1e-4. */
        static String format(double v) {
            double a = Math.abs(v);
            if (v == 0) {
                return "0";
            }
            if (a >= 1e9) {
                return trim(v / 1e9) + "G";
            }
            if (a >= 1e6) {
                return trim(v / 1e6) + "M";
            }
            if (a >= 1e4) {
                return trim(v / 1e3) + "k";
            }
            if (a >= 1e-3) {
                return trim(v);
            }
            String s = String.format(Locale.ROOT, "%.1e", v);
            return s.replace(".0e", "e").replace("e-0", "e-");
        }

        private static String trim(double v) {
            String s = String.format(Locale.ROOT, "%.4g", v);
            if (s.contains("e")) {
                return s;
            }
            return s.contains(".") ? s.replaceAll("0+$", "").replaceAll("\\.$", "") : s;
        }
    }
}
