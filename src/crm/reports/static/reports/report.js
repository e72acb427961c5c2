/* A report's chart: ECharts reads the numbers the server put in a JSON data block (the same
 * numbers as the table below it). Bars per label, stacked for activity counts; a pie of
 * revenue by category for product sales. */
(function () {
  "use strict";

  function start() {
    var source = document.getElementById("report-chart-data");
    var holder = document.getElementById("report-chart");
    if (!source || !holder || !window.echarts) { return; }
    var data = JSON.parse(source.textContent);
    var charts = [];
    var bars = window.echarts.init(holder, null, { renderer: "canvas" });
    bars.setOption({
      aria: { enabled: true },
      animationDuration: 300,
      tooltip: { trigger: "axis" },
      legend: { top: 0, type: "scroll" },
      grid: { left: 8, right: 8, top: 36, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: data.labels, axisLabel: { interval: 0, rotate: data.labels.length > 6 ? 30 : 0 } },
      yAxis: { type: "value" },
      series: data.series.map(function (s) {
        return { type: "bar", name: s.name, data: s.data, stack: data.stacked ? "all" : undefined };
      })
    });
    charts.push(bars);
    var pieHolder = document.getElementById("report-pie");
    if (pieHolder && data.pie) {
      var pie = window.echarts.init(pieHolder, null, { renderer: "canvas" });
      pie.setOption({
        aria: { enabled: true },
        tooltip: { trigger: "item" },
        series: [{ type: "pie", name: data.pie.name, radius: ["35%", "65%"], data: data.pie.data }]
      });
      charts.push(pie);
    }
    window.addEventListener("resize", function () {
      charts.forEach(function (c) { c.resize(); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
