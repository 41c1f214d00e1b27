// The clicks-over-time chart of a short link: the figure is rendered on the server as
// JSON beside the chart's element (no inline script: the content security policy forbids it).
(function () {
  "use strict";
  var box = document.getElementById("link-chart");
  var data = document.getElementById("link-chart-data");
  if (!box || !data || !window.Plotly) { return; }
  var figure = JSON.parse(data.textContent);
  window.Plotly.newPlot(box, figure.data, figure.layout, { displaylogo: false, responsive: true });
})();
