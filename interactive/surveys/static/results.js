// The survey results page: draws each question's figure with the vendored plotly.js and
// polls the results JSON every few seconds, updating the numbers and redrawing the
// figures, so a running survey's charts follow its answers without reloading.
"use strict";
(function () {
  var root = document.getElementById("survey-results");
  var initial = document.getElementById("results-data");
  if (!root || !initial) { return; }
  var texts = JSON.parse(document.getElementById("results-texts").textContent);
  var format = new Intl.NumberFormat(document.documentElement.lang || undefined);
  var config = { displayModeBar: false, responsive: true };
  var drawn = {};

  function set(scope, name, text) {
    var node = scope.querySelector('[data-field="' + name + '"]');
    if (node && node.textContent !== text) { node.textContent = text; }
  }
  function draw(question) {
    var section = root.querySelector('[data-question="' + question.key + '"]');
    if (!section) { return; }
    ["sent", "answered", "reprompted", "skipped"].forEach(function (k) { set(section, k, format.format(question[k])); });
    set(section, "median_response", question.median_response);
    if (question.mean !== null && question.mean !== undefined) { set(section, "mean", String(question.mean)); }
    if (question.nps) { set(section, "nps_score", (question.nps.score > 0 ? "+" : "") + question.nps.score); }
    var list = section.querySelector('[data-field="texts"]');
    if (list) {
      list.textContent = "";
      (question.texts.length ? question.texts : [null]).forEach(function (t) {
        var item = document.createElement("li");
        item.textContent = t === null ? texts.none : t;
        if (t === null) { item.className = "muted"; }
        list.appendChild(item);
      });
    }
    var chart = section.querySelector("[data-chart]");
    var empty = section.querySelector("[data-empty]");
    if (!chart || !window.Plotly) { return; }
    if (empty) { empty.hidden = !!question.figure; }
    if (!question.figure) { return; }
    var key = JSON.stringify(question.figure.data);
    if (drawn[question.key] === key) { return; }
    drawn[question.key] = key;
    window.Plotly.react(chart, question.figure.data, question.figure.layout, config);
  }
  function show(data) {
    Object.keys(data.funnel).forEach(function (k) { set(root, k, format.format(data.funnel[k])); });
    data.questions.forEach(draw);
  }
  function poll() {
    fetch(root.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) { show(data); setTimeout(poll, Number(root.dataset.interval) || 3000); })
      .catch(function () { setTimeout(poll, 10000); });
  }
  show(JSON.parse(initial.textContent));
  setTimeout(poll, Number(root.dataset.interval) || 3000);
})();
