// Report charts: every element with [data-chart] is drawn by ECharts (static/vendor/echarts.min.js, loaded before
// this file, only on the pages that draw charts) from a small JSON description the server wrote:
//   {"kind": "bar"|"line", "unit": "kWh", "decimals": 2, "x": ["01", ...],
//    "series": [{"name": "Shops", "data": [1234, ...], "stack": "use"}, ...]}
// The numbers are the stored integers (0.01 kWh, litres, fen) and `decimals` says where the point goes, so the
// server never sends floats. The description is the [data-chart] attribute's value, or the JSON of the
// <script type="application/json"> right after the element (a data block: the CSP runs no inline script, and
// this one is never run, only read).
// The content security policy allows no inline style: the element's size comes from CSS (.echart), ECharts sets
// its own styles through the CSSOM (allowed), and the tooltip is plain text: ECharts' default tooltip writes
// <span style=...> markers as HTML, which the policy would refuse.
(function () {
  "use strict";
  if (!window.echarts) { return; }
  var drawn = [];

  function description(el) {
    var text = el.getAttribute("data-chart");
    if (!text) {
      var next = el.nextElementSibling;
      text = next && next.matches("script[type='application/json']") ? next.textContent : "";
    }
    try { return text ? JSON.parse(text) : null; } catch (e) { return null; }
  }

  function escapeText(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function option(d) {
    var scale = Math.pow(10, d.decimals || 0);
    var unit = d.unit || "";
    var stacked = d.series.some(function (s) { return s.stack; });
    return {
      animation: false,  // a report is read or printed, not watched
      grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
      legend: { top: 0, show: d.series.length > 1 },
      tooltip: {
        trigger: "axis",
        formatter: function (items) {
          var lines = [escapeText(items.length ? items[0].axisValueLabel : "")];
          var sum = 0;
          items.forEach(function (it) {
            sum += it.value || 0;
            lines.push(escapeText(it.seriesName + ": " + (it.value || 0).toFixed(d.decimals || 0) + " " + unit));
          });
          if (stacked && items.length > 1) { lines.push(escapeText("Σ " + sum.toFixed(d.decimals || 0) + " " + unit)); }
          return lines.join("<br>");
        }
      },
      xAxis: { type: "category", data: d.x },
      yAxis: { type: "value", name: unit },
      series: d.series.map(function (s) {
        return {
          name: s.name, type: d.kind === "line" ? "line" : "bar", stack: s.stack || undefined,
          data: s.data.map(function (v) { return v / scale; })
        };
      })
    };
  }

  function forget() {  // charts whose element an htmx swap took away
    drawn = drawn.filter(function (chart) {
      if (document.body.contains(chart.getDom())) { return true; }
      chart.dispose();
      return false;
    });
  }

  function drawAll(root) {
    forget();
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      if (window.echarts.getInstanceByDom(el)) { return; }
      var d = description(el);
      if (!d || !d.series) { return; }
      var chart = window.echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(option(d));
      el.setAttribute("data-chart-drawn", "");
      drawn.push(chart);
    });
  }

  function resizeAll() { drawn.forEach(function (chart) { chart.resize(); }); }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  // what htmx swaps in (a chart loaded when it comes into view) is drawn once it has settled
  document.addEventListener("htmx:afterSettle", function () { drawAll(document); });
  window.addEventListener("resize", resizeAll);
  // printing lays the page out at the paper's width: draw the charts again at that size, and back after
  window.addEventListener("beforeprint", resizeAll);
  window.addEventListener("afterprint", resizeAll);
  if (document.readyState !== "loading") { drawAll(document); }
})();
