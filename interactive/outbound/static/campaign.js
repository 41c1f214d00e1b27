// The campaign page: draws the funnel with the vendored plotly.js, and while the campaign
// is sending polls its progress every 2 s; when the state changes the page reloads to
// show the new numbers.
"use strict";
(function () {
  var data = document.getElementById("funnel-figure");
  var chart = document.getElementById("funnel-chart");
  if (data && chart && window.Plotly) {
    var figure = JSON.parse(data.textContent);
    window.Plotly.newPlot(chart, figure.data, figure.layout, { displayModeBar: false, responsive: true });
  }

  var box = document.getElementById("campaign-progress");
  if (!box || box.dataset.active !== "true") { return; }
  var format = new Intl.NumberFormat(document.documentElement.lang || undefined);
  function set(name, text) {
    var node = box.querySelector('[data-field="' + name + '"]');
    if (node) { node.textContent = text; }
  }
  function poll() {
    fetch(box.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (p) {
        set("state_label", p.state_label);
        set("done", format.format(p.done));
        set("chunks", format.format(p.chunks));
        box.querySelector("progress").value = p.percent;
        if (p.state !== box.dataset.state) {
          window.location.reload();
          return;
        }
        setTimeout(poll, 2000);
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 2000);
})();
