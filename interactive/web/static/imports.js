// The import progress page: polls the progress endpoint and updates the numbers in place.
(function () {
  "use strict";
  var box = document.getElementById("import-progress");
  if (!box || box.dataset.finished === "true") { return; }
  var format = new Intl.NumberFormat(document.documentElement.lang || undefined);
  function set(name, text) {
    var el = box.querySelector('[data-field="' + name + '"]');
    if (el) { el.textContent = text; }
  }
  function render(p) {
    set("status_text", p.status_text);
    set("rows_done", format.format(p.rows_done));
    set("total", p.total === null ? "?" : format.format(p.total));
    set("rate", p.rate === null ? "" : box.dataset.textRate.replace("%(rate)s", format.format(p.rate)));
    set("eta", p.eta === null ? "" : "· " + box.dataset.textEta.replace("%(seconds)s", format.format(p.eta)));
    ["created", "updated", "unchanged", "rejected", "duplicates", "consent_events"].forEach(function (k) {
      set(k, format.format(p[k]));
    });
    set("error", p.error || "");
    box.querySelector("progress").value = p.percent === null ? 0 : p.percent;
    box.querySelector('[data-show="finished"]').hidden = !p.finished;
    box.querySelector('[data-show="active"]').hidden = p.finished;
  }
  function poll() {
    fetch(box.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (p) {
        render(p);
        if (!p.finished) { setTimeout(poll, 1000); }
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 500);
})();
