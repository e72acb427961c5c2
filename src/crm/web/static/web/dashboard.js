/* The manager's funnel: ECharts reads the numbers the server put in a JSON data block (the same
 * numbers as the table beside it). */
(function () {
  "use strict";

  function start() {
    var holder = document.getElementById("funnel-chart");
    var source = document.getElementById("funnel-data");
    if (!holder || !source || !window.echarts) { return; }
    var data = JSON.parse(source.textContent);
    var chart = window.echarts.init(holder, null, { renderer: "canvas" });
    chart.setOption({
      aria: { enabled: true },
      animationDuration: 300,
      tooltip: { show: false },
      series: [{
        type: "funnel",
        name: data.title,
        sort: "none",
        max: Math.max.apply(null, data.stages.map(function (s) { return s.reached; }).concat([1])),
        left: "2%",
        top: 10,
        bottom: 10,
        width: "48%",
        minSize: "8%",
        gap: 2,
        label: { show: true, position: "right", formatter: "{b}", color: "#212529", fontSize: 12 },
        labelLine: { show: true, length: 12 },
        // Width: how many opportunities reached the stage (a true funnel); label: the value
        // now in the stage and the conversion to the next one.
        data: data.stages.map(function (s) {
          var name = s.name + " · " + s.value_label + (s.conversion === null ? "" : " · → " + s.conversion + "%");
          return { name: name, value: s.reached };
        })
      }]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
