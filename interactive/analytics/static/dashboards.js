// The analytics dashboards: draws each figure with the vendored plotly.js from the JSON
// beside its element (no inline script: the content security policy forbids it), and,
// while a campaign the page shows is sending, polls the page's JSON every few seconds to
// update the numbers and tables and redraw the figures with Plotly.react.
"use strict";
(function () {
  var config = { displayModeBar: false, responsive: true };

  function draw(name, figure) {
    var box = document.querySelector('[data-chart="' + name + '"]');
    var empty = document.querySelector('[data-empty-for="' + name + '"]');
    if (!box || !window.Plotly) { return; }
    if (empty) { empty.hidden = !!figure; }
    if (!figure) { return; }
    box.hidden = false;
    window.Plotly.react(box, figure.data, figure.layout, config);
  }

  Array.prototype.forEach.call(document.querySelectorAll("script[data-figure]"), function (node) {
    draw(node.dataset.figure, JSON.parse(node.textContent));
  });

  var root = document.getElementById("dashboard");
  if (!root || root.dataset.live !== "true") { return; }
  var interval = Number(root.dataset.interval) || 10000;

  function show(data) {
    Object.keys(data.numbers).forEach(function (key) {
      Array.prototype.forEach.call(document.querySelectorAll('[data-number="' + key + '"]'), function (node) {
        if (node.textContent !== data.numbers[key]) { node.textContent = data.numbers[key]; }
      });
    });
    Object.keys(data.tables).forEach(function (name) {
      var body = document.querySelector('[data-table-body="' + name + '"]');
      if (body) { body.innerHTML = data.tables[name]; }
    });
    Object.keys(data.figures).forEach(function (name) { draw(name, data.figures[name]); });
    var note = document.getElementById("refreshed");
    if (note && data.refreshed_text) { note.textContent = data.refreshed_text; }
  }

  function poll() {
    fetch(root.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) { throw new Error(String(r.status)); }
        return r.json();
      })
      .then(function (data) {
        show(data);
        if (data.live) { setTimeout(poll, interval); }
      })
      .catch(function () { setTimeout(poll, interval * 3); });
  }
  setTimeout(poll, interval);
})();
