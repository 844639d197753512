package io.lorafleet.spark;

import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.data.category.DefaultCategoryDataset;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

import java.awt.Color;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import java.util.Map;

/**
 * A self-contained HTML page (charts drawn by JFreeChart as PNG and embedded, so the file can be mailed or
 * opened from HDFS/S3 as it is): a title, text, charts and tables.
 */
final class HtmlReport {
    static {
        if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
    }

    /** One line of a line chart: points (x, y) in order. */
    record Line(String name, List<double[]> points) { }

    private final StringBuilder body = new StringBuilder();
    private final String title;

    HtmlReport(String title) {
        this.title = title;
        body.append("<h1>").append(escape(title)).append("</h1>\n");
    }

    HtmlReport heading(String text) {
        body.append("<h2>").append(escape(text)).append("</h2>\n");
        return this;
    }

    HtmlReport paragraph(String text) {
        body.append("<p>").append(escape(text)).append("</p>\n");
        return this;
    }

    HtmlReport lineChart(String chartTitle, String xLabel, String yLabel, List<Line> lines) throws IOException {
        XYSeriesCollection data = new XYSeriesCollection();
        for (Line line : lines) {
            XYSeries series = new XYSeries(line.name(), false, true);
            for (double[] p : line.points()) if (Double.isFinite(p[1])) series.add(p[0], p[1]);
            data.addSeries(series);
        }
        JFreeChart chart = ChartFactory.createXYLineChart(chartTitle, xLabel, yLabel, data, PlotOrientation.VERTICAL, lines.size() > 1, false, false);
        chart.getXYPlot().getRangeAxis().setAutoRange(true);
        ((org.jfree.chart.axis.NumberAxis) chart.getXYPlot().getRangeAxis()).setAutoRangeIncludesZero(false);
        return image(chart, chartTitle);
    }

    /** One bar per key, in the map's order; NaN values are left out. */
    HtmlReport barChart(String chartTitle, String valueLabel, Map<String, Double> values) throws IOException {
        DefaultCategoryDataset data = new DefaultCategoryDataset();
        values.forEach((k, v) -> {
            if (Double.isFinite(v)) data.addValue(v, valueLabel, k);
        });
        JFreeChart chart = ChartFactory.createBarChart(chartTitle, "", valueLabel, data, PlotOrientation.VERTICAL, false, false, false);
        return image(chart, chartTitle);
    }

    private HtmlReport image(JFreeChart chart, String alt) throws IOException {
        chart.setBackgroundPaint(Color.WHITE);
        org.jfree.chart.plot.Plot plot = chart.getPlot();
        plot.setBackgroundPaint(Color.WHITE);
        if (plot instanceof org.jfree.chart.plot.XYPlot xy) {
            xy.setDomainGridlinePaint(Color.LIGHT_GRAY);
            xy.setRangeGridlinePaint(Color.LIGHT_GRAY);
        } else if (plot instanceof org.jfree.chart.plot.CategoryPlot category) {
            category.setRangeGridlinePaint(Color.LIGHT_GRAY);
        }
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        ChartUtils.writeChartAsPNG(png, chart, 720, 360);
        body.append("<img alt=\"").append(escape(alt)).append("\" src=\"data:image/png;base64,")
                .append(Base64.getEncoder().encodeToString(png.toByteArray())).append("\">\n");
        return this;
    }

    /** A table: the first row is the header; cells are text (escaped). */
    HtmlReport table(List<List<String>> rows) {
        body.append("<table>\n");
        for (int i = 0; i < rows.size(); i++) {
            String cell = i == 0 ? "th" : "td";
            body.append("<tr>");
            for (String v : rows.get(i)) body.append('<').append(cell).append('>').append(escape(v)).append("</").append(cell).append('>');
            body.append("</tr>\n");
        }
        body.append("</table>\n");
        return this;
    }

    byte[] bytes() {
        String page = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + escape(title) + "</title>\n<style>"
                + "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}"
                + "th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:0.9em}th{background:#f3f3f3}"
                + "img{display:block;margin:1em 0;border:1px solid #eee}</style></head><body>\n" + body + "</body></html>\n";
        return page.getBytes(StandardCharsets.UTF_8);
    }

    static String escape(String s) {
        if (s == null) return "";
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
