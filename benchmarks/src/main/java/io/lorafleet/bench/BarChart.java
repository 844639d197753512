package io.lorafleet.bench;

import java.util.List;
import java.util.Locale;

/**
 * Grouped bar charts as SVG, for the benchmark report beside its tables: one panel per measure (e.g. ms per
 * batch, peak RSS), one group of bars per workload, one bar colour per engine. Plain SVG text, so the chart
 * renders on GitHub and in any browser and diffs like the tables do.
 */
final class BarChart {
    /** One measure: its title, unit, and values[group][series] (NaN where nothing was measured). */
    record Panel(String title, String unit, double[][] values) { }

    private static final String[] COLOURS = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"};
    private static final int PANEL_W = 460, PANEL_H = 300, LEFT = 60, TOP = 40, BOTTOM = 60, LEGEND = 24;

    private BarChart() { }

    static String svg(List<String> groups, List<String> series, List<Panel> panels) {
        int width = PANEL_W * panels.size(), height = PANEL_H + LEGEND * series.size() + 10;
        StringBuilder s = new StringBuilder(String.format(Locale.ROOT,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">%n", width, height));
        s.append(String.format(Locale.ROOT, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>%n", width, height));
        for (int p = 0; p < panels.size(); p++) panel(s, p * PANEL_W, groups, series.size(), panels.get(p));
        for (int k = 0; k < series.size(); k++) {
            int y = PANEL_H + 10 + LEGEND * k;
            s.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"14\" fill=\"%s\"/>", LEFT, y, COLOURS[k % COLOURS.length]));
            s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\">%s</text>%n", LEFT + 20, y + 12, escape(series.get(k))));
        }
        return s.append("</svg>\n").toString();
    }

    private static void panel(StringBuilder s, int x0, List<String> groups, int seriesCount, Panel panel) {
        double max = 0;
        for (double[] group : panel.values()) for (double v : group) if (!Double.isNaN(v)) max = Math.max(max, v);
        double top = niceCeiling(max);
        int plotW = PANEL_W - LEFT - 20, plotH = PANEL_H - TOP - BOTTOM;
        s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"20\" font-size=\"14\" font-weight=\"bold\">%s (%s)</text>%n",
                x0 + LEFT, escape(panel.title()), escape(panel.unit())));
        for (int t = 0; t <= 4; t++) { // value axis: 5 gridlines
            double v = top * t / 4;
            int y = TOP + plotH - (int) Math.round(plotH * v / top);
            s.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ddd\"/>", x0 + LEFT, y, x0 + LEFT + plotW, y));
            s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%,.0f</text>%n", x0 + LEFT - 6, y + 4, v));
        }
        double groupW = (double) plotW / groups.size(), barW = groupW * 0.8 / seriesCount;
        for (int g = 0; g < groups.size(); g++) {
            double gx = x0 + LEFT + g * groupW + groupW * 0.1;
            for (int k = 0; k < seriesCount; k++) {
                double v = panel.values()[g][k];
                if (Double.isNaN(v)) continue;
                double h = plotH * v / top, bx = gx + k * barW;
                s.append(String.format(Locale.ROOT, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>%s: %,.0f %s</title></rect>%n",
                        bx, TOP + plotH - h, barW - 1, h, COLOURS[k % COLOURS.length], escape(groups.get(g)), v, escape(panel.unit())));
                s.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"10\">%,.0f</text>%n",
                        bx + barW / 2, TOP + plotH - h - 3, v));
            }
            s.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>%n",
                    gx + groupW * 0.4, TOP + plotH + 18, escape(groups.get(g))));
        }
        s.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>%n",
                x0 + LEFT, TOP + plotH, x0 + LEFT + plotW, TOP + plotH));
    }

    /** The smallest 1, 2 or 5 × 10ⁿ at or above v: the top of the value axis. */
    static double niceCeiling(double v) {
        if (v <= 0) return 1;
        double scale = Math.pow(10, Math.floor(Math.log10(v)));
        for (double step : new double[] {1, 2, 5, 10}) if (step * scale >= v) return step * scale;
        return 10 * scale;
    }

    private static String escape(String text) {
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }
}
