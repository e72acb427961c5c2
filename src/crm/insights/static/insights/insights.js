/* Customer insight charts: ECharts reads the numbers the server put in JSON data blocks (the
 * same numbers as the tables and text beside them). No inline scripts (CSP). */
(function () {
  "use strict";

  function data(id) {
    var source = document.getElementById(id);
    return source ? JSON.parse(source.textContent) : null;
  }

  function palive() {
    var holder = document.getElementById("palive-chart");
    var d = data("palive-data");
    if (!holder || !d || !window.echarts) { return null; }
    var chart = window.echarts.init(holder, null, { renderer: "canvas" });
    var marks = d.now === null ? [] : [{ xAxis: d.now }];
    chart.setOption({
      aria: { enabled: true },
      animationDuration: 300,
      grid: { left: 48, right: 16, top: 16, bottom: 48 },
      tooltip: { trigger: "axis", valueFormatter: function (v) { return Math.round(v * 100) + "%"; } },
      xAxis: { type: "value", name: d.x_label, nameLocation: "middle", nameGap: 28, min: 0 },
      yAxis: { type: "value", name: d.y_label, min: 0, max: 1,
               axisLabel: { formatter: function (v) { return Math.round(v * 100) + "%"; } } },
      series: [{
        type: "line", name: d.y_label, showSymbol: false, smooth: true, data: d.points,
        markLine: { symbol: "none", silent: true, data: marks, label: { show: false } }
      }]
    });
    return chart;
  }

  function segments() {
    var holder = document.getElementById("segments-chart");
    var d = data("segments-data");
    if (!holder || !d || !window.echarts) { return null; }
    var most = Math.max.apply(null, d.points.map(function (p) { return p.customers; }).concat([1]));
    var chart = window.echarts.init(holder, null, { renderer: "canvas" });
    chart.setOption({
      aria: { enabled: true },
      animationDuration: 300,
      grid: { left: 64, right: 24, top: 24, bottom: 48 },
      tooltip: {
        formatter: function (p) {
          var v = p.data;
          return v[3] + "<br>" + d.size_label + ": " + v[2] + "<br>" + d.y_label + ": " + v[1] +
            "<br>" + d.x_label + ": " + v[0];
        }
      },
      xAxis: { type: "value", name: d.x_label, nameLocation: "middle", nameGap: 28, min: 0 },
      yAxis: { type: "value", name: d.y_label, min: 0 },
      series: [{
        type: "scatter",
        name: d.title,
        symbolSize: function (v) { return 12 + 48 * Math.sqrt(v[2] / most); },
        label: { show: true, position: "top", formatter: function (p) { return p.data[3]; }, fontSize: 11 },
        itemStyle: { opacity: 0.75 },
        data: d.points.map(function (p) { return [p.recency, p.value, p.customers, p.name]; })
      }]
    });
    return chart;
  }

  function start() {
    var charts = [palive(), segments()].filter(Boolean);
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
