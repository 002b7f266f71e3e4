// Statistics page: draws the three charts from the page's JSON data block with the vendored ECharts.
// A file of its own (no inline script): the Content-Security-Policy allows scripts from 'self' only.
(function () {
  "use strict";
  var block = document.getElementById("stats-data");
  if (!block || !window.echarts) { return; }
  var data = JSON.parse(block.textContent);
  var charts = [];
  var hours = function (s) { return s == null ? null : Math.round(s / 360) / 10; };
  var names = function (el) { return el.getAttribute("data-series").split("|"); };
  var narrow = window.matchMedia("(max-width: 600px)").matches;
  var grid = { left: 44, right: narrow ? 44 : 56, top: 28, bottom: 56 };

  function draw(id, option) {
    var el = document.getElementById(id);
    if (!el) { return null; }
    var chart = window.echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(option);
    charts.push(chart);
    return chart;
  }

  // The legend as buttons above the canvas, not drawn in it: on a phone the canvas legend wrapped onto the axis
  // names and the plot (newuser34), and a screen reader or a keyboard never reached it. Each button shows or
  // hides its series (aria-pressed); ECharts keeps its own legend hidden to do the hiding.
  function legend(id, chart, items) {
    var el = document.getElementById(id);
    if (!el || !chart) { return; }
    var box = document.createElement("div");
    box.className = "chart-legend";
    box.setAttribute("role", "group");
    var title = el.closest("section").querySelector("h2");
    if (title) { box.setAttribute("aria-label", title.textContent); }
    items.forEach(function (it) {
      var b = document.createElement("button");
      b.type = "button";
      b.setAttribute("aria-pressed", "true");
      var sw = document.createElement("span");
      sw.className = "swatch";
      sw.style.backgroundColor = it.color;  // CSSOM, which the Content-Security-Policy allows (no style attribute)
      b.appendChild(sw);
      b.appendChild(document.createTextNode(it.name));
      b.addEventListener("click", function () {
        chart.dispatchAction({ type: "legendToggleSelect", name: it.name });
        b.setAttribute("aria-pressed", String(b.getAttribute("aria-pressed") !== "true"));
      });
      box.appendChild(b);
    });
    el.parentNode.insertBefore(box, el);
  }

  var vEl = document.getElementById("chart-violations");
  var vn = names(vEl);
  var vChart = draw("chart-violations", {
    animation: false,
    tooltip: { trigger: "axis" },
    legend: { data: vn, show: false },
    grid: grid,
    dataZoom: narrow ? [{ type: "inside" }] : [],
    xAxis: { type: "category", data: data.days.map(function (d) { return d.day.slice(5); }) },
    yAxis: [{ type: "value", minInterval: 1 }, { type: "value", name: "min", splitLine: { show: false } }],
    series: [
      { name: vn[0], type: "bar", data: data.days.map(function (d) { return d.violations; }), itemStyle: { color: "#c2410c" } },
      { name: vn[1], type: "line", yAxisIndex: 1, data: data.days.map(function (d) { return Math.round(d.violation_s / 60); }), itemStyle: { color: "#b45309" } }
    ]
  });
  legend("chart-violations", vChart, [{ name: vn[0], color: "#c2410c" }, { name: vn[1], color: "#b45309" }]);

  var bn = names(document.getElementById("chart-bays"));
  var fed = data.bays.some(function (b) { return b.charging_s != null; });
  var stack = fed ? [
    { name: bn[0], color: "#15803d", get: function (b) { return hours(b.charging_s || 0); } },
    { name: bn[1], color: "#0f766e", get: function (b) { return hours(b.charging_s == null ? b.occupied_s : b.parked_not_charging_s); } },
    // occupied on days before the bay's charger first reported: neither charging nor not (unknown)
    { name: bn[3], color: "#64748b", get: function (b) {
      return b.charging_s == null ? 0 : hours(Math.max(0, b.occupied_s - b.charging_s - b.parked_not_charging_s)); } },
    { name: bn[2], color: "#cbd5e1", get: function (b) { return hours(b.free_s); } },
    { name: bn[4], color: "#fcd34d", get: function (b) { return hours(b.unknown_s); } }
  ] : [
    { name: bn[3], color: "#0f766e", get: function (b) { return hours(b.occupied_s); } },
    { name: bn[2], color: "#cbd5e1", get: function (b) { return hours(b.free_s); } },
    { name: bn[4], color: "#fcd34d", get: function (b) { return hours(b.unknown_s); } }
  ];
  var bChart = draw("chart-bays", {
    animation: false,
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    legend: { show: false },
    grid: { left: 44, right: 16, top: 28, bottom: 30 },
    xAxis: { type: "category", data: data.bays.map(function (b) { return b.bay; }) },
    yAxis: { type: "value", name: "h" },
    series: stack.map(function (s) {
      return { name: s.name, type: "bar", stack: "all", itemStyle: { color: s.color }, data: data.bays.map(s.get) };
    })
  });
  legend("chart-bays", bChart, stack);

  var hEl = document.getElementById("chart-heat");
  var wd = hEl.getAttribute("data-weekdays").split(",");
  var cells = [];
  data.heat.forEach(function (row, d) {
    row.forEach(function (v, h) { if (v != null) { cells.push([h, d, Math.round(v * 100)]); } });
  });
  draw("chart-heat", {
    animation: false,
    tooltip: { position: "top" },
    grid: { left: 36, right: 12, top: 10, bottom: 64 },
    xAxis: { type: "category", data: Array.from({ length: 24 }, function (_, h) { return String(h); }), splitArea: { show: true } },
    yAxis: { type: "category", data: wd, inverse: true, splitArea: { show: true } },
    visualMap: { min: 0, max: 100, calculable: false, orient: "horizontal", left: "center", bottom: 0,
                 itemHeight: narrow ? 120 : 200, text: ["100%", "0%"], inRange: { color: ["#f1f5f9", "#5eead4", "#0f766e", "#0b3b38"] } },
    series: [{ name: names(hEl)[0], type: "heatmap", data: cells, label: { show: !narrow, fontSize: 9 } }]
  });

  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
  document.body.setAttribute("data-charts-ready", String(charts.length));
})();
