/* Forecast pages' charts. ECharts reads the numbers the server put in JSON data blocks (the
 * same numbers as the tables beside them); no inline script (CSP). */
(function () {
  "use strict";

  function read(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function funnel(holder, data) {
    var chart = window.echarts.init(holder, null, { renderer: "canvas" });
    chart.setOption({
      aria: { enabled: true },
      animationDuration: 300,
      series: [{
        type: "funnel",
        name: data.title,
        sort: "none",
        max: Math.max.apply(null, data.stages.map(function (s) { return s.reached; }).concat([1])),
        left: "2%", top: 10, bottom: 10, width: "55%", minSize: "8%", gap: 2,
        label: { show: true, position: "right", formatter: "{b}", color: "#212529", fontSize: 12 },
        data: data.stages.map(function (s) {
          var rate = s.conversion === null ? "" : " · → " + (100 * s.conversion).toFixed(0) + "%";
          return { name: s.name + " · " + s.reached + rate, value: s.reached };
        })
      }]
    });
    return chart;
  }

  function forecastChart(holder, data) {
    var periods = data.history.map(function (p) { return p.period; })
      .concat(data.forecast.map(function (p) { return p.period; }));
    var pad = data.history.map(function () { return null; });
    var history = data.history.map(function (p) { return p.value; })
      .concat(data.forecast.map(function () { return null; }));
    // Join the forecast line to the last observed point.
    var point = pad.slice();
    if (point.length) { point[point.length - 1] = data.history[data.history.length - 1].value; }
    point = point.concat(data.forecast.map(function (p) { return p.point; }));
    // Bands: an invisible base at the lower bound, then the band width stacked on it.
    function band(lower, upper) {
      return {
        base: pad.concat(data.forecast.map(function (p) { return p[lower]; })),
        width: pad.concat(data.forecast.map(function (p) { return p[upper] - p[lower]; }))
      };
    }
    var b95 = band("lower_95", "upper_95");
    var b80 = band("lower_80", "upper_80");
    var L = data.labels;
    var chart = window.echarts.init(holder, null, { renderer: "canvas" });
    chart.setOption({
      aria: { enabled: true },
      animationDuration: 300,
      tooltip: { trigger: "axis" },
      legend: { data: [L.history, L.forecast, L.band80, L.band95], bottom: 0 },
      grid: { left: 60, right: 16, top: 16, bottom: 56 },
      xAxis: { type: "category", data: periods, boundaryGap: false },
      yAxis: { type: "value", min: 0 },
      series: [
        { name: "base95", type: "line", data: b95.base, stack: "b95", lineStyle: { opacity: 0 }, symbol: "none", tooltip: { show: false } },
        { name: L.band95, type: "line", data: b95.width, stack: "b95", lineStyle: { opacity: 0 }, symbol: "none", areaStyle: { color: "rgba(13,110,253,0.12)" } },
        { name: "base80", type: "line", data: b80.base, stack: "b80", lineStyle: { opacity: 0 }, symbol: "none", tooltip: { show: false } },
        { name: L.band80, type: "line", data: b80.width, stack: "b80", lineStyle: { opacity: 0 }, symbol: "none", areaStyle: { color: "rgba(13,110,253,0.25)" } },
        { name: L.history, type: "line", data: history, symbol: "none", lineStyle: { color: "#212529", width: 1.5 }, itemStyle: { color: "#212529" } },
        { name: L.forecast, type: "line", data: point, symbol: "none", lineStyle: { color: "#0d6efd", width: 2, type: "dashed" }, itemStyle: { color: "#0d6efd" } }
      ]
    });
    return chart;
  }

  function start() {
    if (!window.echarts) { return; }
    var charts = [];
    var holder = document.getElementById("funnel-chart");
    var data = read("funnel-data");
    if (holder && data) { charts.push(funnel(holder, data)); }
    holder = document.getElementById("forecast-chart");
    data = read("forecast-data");
    if (holder && data) { charts.push(forecastChart(holder, data)); }
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
