// The rule form: the regular-expression and handler-setting fields shown only when they
// apply, and the live part count of the replies. No inline script (CSP: script-src
// 'self'); texts are set with textContent only.
"use strict";
(function () {
  var form = document.getElementById("rule-form");
  if (!form) { return; }

  function toggles() {
    form.querySelectorAll("[data-show-when]").forEach(function (box) {
      var input = form.querySelector('[name="' + box.dataset.showWhen + '"]');
      var values = box.dataset.showValues.split(" ");
      box.hidden = !input || values.indexOf(input.value) < 0;
    });
  }
  form.addEventListener("change", toggles);
  toggles();

  var timers = {};
  function count(area) {
    var out = form.querySelector('[data-parts-for="' + area.name + '"]');
    if (!out) { return; }
    if (!area.value) { out.textContent = ""; return; }
    var url = form.dataset.partsUrl + "?text=" + encodeURIComponent(area.value);
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        out.textContent = form.dataset.partsLabel
          .replace("{parts}", data.parts)
          .replace("{encoding}", data.encoding)
          .replace("{characters}", data.characters);
      })
      .catch(function () { out.textContent = ""; });
  }
  form.querySelectorAll("textarea[data-parts]").forEach(function (area) {
    area.addEventListener("input", function () {
      clearTimeout(timers[area.name]);
      timers[area.name] = setTimeout(function () { count(area); }, 300);
    });
    count(area);
  });
})();
