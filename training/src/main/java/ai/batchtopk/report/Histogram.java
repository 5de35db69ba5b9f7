package ai.batchtopk.report;

import java.util.Locale;

/**
 * An inline SVG bar histogram of precomputed bins, with an optional extra bar set apart on the left
 * (the dead latents of the firing-density histogram) and an optional marked value (a mean).
 */
final class Histogram {
    private static final int WIDTH = LineChart.WIDTH;
    private static final int HEIGHT = LineChart.HEIGHT;
    private static final int LEFT = 64;
    private static final int RIGHT = 16;
    private static final int TOP = 48;
    private static final int BOTTOM = 44;

    private final String title;
    private final String xLabel;
    private final double[] edges;
    private final long[] counts;
    private String extraLabel;
    private long extraCount = -1;
    private String markLabel;
    private double mark = Double.NaN;

    /** {@code counts[i]} is the number of values in {@code [edges[i], edges[i + 1])}. */
    Histogram(String title, String xLabel, double[] edges, long[] counts) {
        if (edges.length != counts.length + 1) {
            throw new IllegalArgumentException("edges must be one more than counts");
        }
        this.title = title;
        this.xLabel = xLabel;
        this.edges = edges;
        this.counts = counts;
    }

    /** A bar of its own left of the axis, e.g. "dead". */
    Histogram extra(String label, long count) {
        this.extraLabel = label;
        this.extraCount = count;
        return this;
    }

    /** A vertical dashed line at a value, e.g. the mean. */
    Histogram mark(String label, double value) {
        this.markLabel = label;
        this.mark = value;
        return this;
    }

    /** Integer-valued data 0..max in at most {@code maxBins} bins of equal integer width. */
    static Histogram ofIntegers(String title, String xLabel, long[] countPerValue, int maxBins) {
        int last = countPerValue.length - 1;
        while (last > 0 && countPerValue[last] == 0) {
            last--;
        }
        int width = Math.max(1, (last + maxBins) / maxBins);
        int bins = last / width + 1;
        double[] edges = new double[bins + 1];
        long[] counts = new long[bins];
        for (int b = 0; b <= bins; b++) {
            edges[b] = b * (double) width - 0.5;
        }
        for (int v = 0; v <= last; v++) {
            counts[v / width] += countPerValue[v];
        }
        return new Histogram(title, xLabel, edges, counts);
    }

    String svg() {
        StringBuilder out = new StringBuilder();
        out.append("<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 ")
                .append(WIDTH)
                .append(' ')
                .append(HEIGHT)
                .append("\" role=\"img\" aria-label=\"")
                .append(Html.escape(title))
                .append("\">\n");
        out.append(LineChart.text(WIDTH / 2.0, 20, "middle", "title", title));
        long maxCount = Math.max(1, extraCount);
        for (long c : counts) {
            maxCount = Math.max(maxCount, c);
        }
        boolean extra = extraLabel != null;
        double extraW = extra ? 44 : 0;
        double plotX = LEFT + extraW, plotW = WIDTH - plotX - RIGHT, plotH = HEIGHT - TOP - BOTTOM;
        LineChart.Axis y = LineChart.Axis.linear(0, maxCount);
        LineChart.Axis x = LineChart.Axis.linear(edges[0], edges[edges.length - 1]);
        // The bars span exactly the bin range; x ticks are placed within it.
        double x0 = edges[0], x1 = edges[edges.length - 1];
        out.append(String.format(
                Locale.ROOT,
                "<rect class=\"plot\" x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\"/>\n",
                LEFT,
                TOP,
                WIDTH - LEFT - RIGHT + 0.0,
                plotH));
        for (double t : y.ticks()) {
            double py = TOP + plotH * (1 - y.fraction(t));
            out.append(LineChart.line(LEFT, py, LEFT + plotW + extraW, py, "grid"));
            out.append(LineChart.text(LEFT - 6, py + 4, "end", "tick", LineChart.Axis.format(t)));
        }
        for (double t : x.ticks()) {
            if (t < x0 - 1e-9 || t > x1 + 1e-9) {
                continue;
            }
            double px = plotX + plotW * (t - x0) / (x1 - x0);
            out.append(LineChart.text(px, TOP + plotH + 16, "middle", "tick", LineChart.Axis.format(t)));
            out.append(LineChart.line(px, TOP + plotH, px, TOP + plotH + 4, "axisline"));
        }
        for (int i = 0; i < counts.length; i++) {
            if (counts[i] == 0) {
                continue;
            }
            double bx = plotX + plotW * (edges[i] - x0) / (x1 - x0);
            double bw = plotW * (edges[i + 1] - edges[i]) / (x1 - x0);
            double bh = plotH * y.fraction(counts[i]);
            out.append(String.format(
                    Locale.ROOT,
                    "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"><title>[%s, %s): %d</title></rect>\n",
                    bx + 0.5,
                    TOP + plotH - bh,
                    Math.max(0.5, bw - 1),
                    bh,
                    LineChart.Axis.format(edges[i]),
                    LineChart.Axis.format(edges[i + 1]),
                    counts[i]));
        }
        if (extra) {
            double bh = plotH * y.fraction(extraCount);
            out.append(String.format(
                    Locale.ROOT,
                    "<rect class=\"extra\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"><title>%s: %d</title></rect>\n",
                    LEFT + 8.0,
                    TOP + plotH - bh,
                    extraW - 16,
                    bh,
                    Html.escape(extraLabel),
                    extraCount));
            out.append(LineChart.text(LEFT + extraW / 2, TOP + plotH + 16, "middle", "tick extralabel", extraLabel));
            out.append(LineChart.text(
                    LEFT + extraW / 2, TOP + plotH - bh - 4, "middle", "tick", Long.toString(extraCount)));
            out.append(LineChart.line(plotX, TOP, plotX, TOP + plotH, "axisline"));
        }
        if (!Double.isNaN(mark) && mark >= x0 && mark <= x1) {
            double px = plotX + plotW * (mark - x0) / (x1 - x0);
            out.append(String.format(
                    Locale.ROOT,
                    "<line class=\"mark\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
                    px,
                    TOP,
                    px,
                    TOP + plotH));
            boolean leftSide = px > plotX + plotW * 0.75;
            out.append(LineChart.text(
                    px + (leftSide ? -4 : 4),
                    TOP + 14,
                    leftSide ? "end" : "start",
                    "tick marklabel",
                    markLabel + " " + Html.number(mark)));
        }
        out.append(LineChart.text(plotX + plotW / 2, HEIGHT - 8, "middle", "axis", xLabel));
        out.append("</svg>\n");
        return out.toString();
    }
}
