// The campaign composer: variants added and removed in place, fields shown for the chosen
// options, and the live preview (the whole form is posted, CSRF token included, a moment
// after the last keystroke). No inline script (CSP: script-src 'self'); server texts are
// set with textContent only.
"use strict";
(function () {
  var form = document.getElementById("campaign-form");
  var panel = document.getElementById("preview");
  if (!form || !panel) { return; }
  var t = panel.dataset;
  var variantsBox = document.getElementById("variants");
  var template = document.getElementById("variant-template");
  var timer = null;
  var sequence = 0;
  var lastAudience = null;
  var lastCount = null;

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }
  function field(name) { return panel.querySelector('[data-field="' + name + '"]'); }
  function fieldsets() { return Array.prototype.slice.call(variantsBox.querySelectorAll("fieldset.variant")); }

  // --- variants -------------------------------------------------------------------------
  function renumber() {
    var sets = fieldsets();
    variantsBox.dataset.count = String(sets.length);
    sets.forEach(function (set) {
      var label = set.querySelector('[data-role="label"]');
      set.querySelector('[data-role="legend"]').textContent = label.value;
    });
    var add = form.querySelector('[data-action="add-variant"]');
    if (add) { add.hidden = sets.length >= Number(variantsBox.dataset.max || 5); }
  }
  function addVariant() {
    var sets = fieldsets();
    var next = sets.reduce(function (m, s) { return Math.max(m, Number(s.dataset.index)); }, -1) + 1;
    var used = sets.map(function (s) { return s.querySelector('[data-role="label"]').value; });
    var label = (variantsBox.dataset.labels || "ABCDE").split("").find(function (l) { return used.indexOf(l) < 0; }) || String(next + 1);
    var html = template.innerHTML.split("__i__").join(String(next));
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var set = holder.querySelector("fieldset");
    set.querySelector('[data-role="label"]').value = label;
    // Split the shares evenly; the last one takes the remainder.
    var all = sets.concat([set]);
    var even = Math.floor(100 / all.length);
    all.forEach(function (s, i) {
      s.querySelector('[data-role="share"]').value = String(i === all.length - 1 ? 100 - even * (all.length - 1) : even);
    });
    variantsBox.appendChild(set);
    renumber();
    set.querySelector('[data-role="template"]').focus();
    schedule();
  }
  function removeVariant(set) {
    if (fieldsets().length <= 1) { return; }
    set.remove();
    renumber();
    schedule();
  }

  // --- options that show other fields ---------------------------------------------------
  function checked(name) {
    var input = form.querySelector('input[name="' + name + '"]:checked');
    return input ? input.value : "";
  }
  function toggles() {
    form.querySelectorAll("[data-show-when]").forEach(function (box) {
      var values = box.dataset.showValues.split(" ");
      box.hidden = values.indexOf(checked(box.dataset.showWhen)) < 0;
    });
  }

  // --- the preview ----------------------------------------------------------------------
  function audienceKey() {
    return ["lists", "segments", "exclude_lists", "exclude_segments"].map(function (name) {
      var select = form.elements[name];
      return select ? Array.prototype.map.call(select.selectedOptions, function (o) { return o.value; }).join(",") : "";
    }).join("|");
  }
  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 400);
  }
  function post(url, extra) {
    var data = new FormData(form);
    Object.keys(extra || {}).forEach(function (k) { data.append(k, extra[k]); });
    return fetch(url, {
      method: "POST", body: data, credentials: "same-origin",
      headers: { Accept: "application/json", "X-Requested-With": "fetch" }
    }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    });
  }
  function refresh() {
    var mine = ++sequence;
    var key = audienceKey();
    var extra = key === lastAudience && lastCount !== null ? { audience_count: String(lastCount) } : {};
    post(t.url, extra).then(function (answer) {
      if (mine !== sequence) { return; }
      if (!answer.ok) { throw new Error("preview"); }
      lastAudience = key;
      lastCount = answer.body.audience.error ? null : answer.body.audience.count;
      render(answer.body);
    }).catch(function () {
      if (mine === sequence) { field("notes").replaceChildren(el("li", {}, t.textFailed)); }
    });
  }
  function render(p) {
    var box = field("variants");
    box.replaceChildren();
    var sets = fieldsets();
    p.variants.forEach(function (v, i) {
      var set = sets[i];
      if (set) { set.querySelector('[data-role="template-error"]').textContent = v.error || ""; }
      box.appendChild(renderVariant(v, set));
    });
    var notes = field("notes");
    notes.replaceChildren();
    p.notes.forEach(function (n) { notes.appendChild(el("li", {}, n)); });
    if (p.samples_made_up) { notes.appendChild(el("li", { class: "muted" }, t.textMadeUp)); }
    document.querySelectorAll('[data-field="audience_text"]').forEach(function (n) { n.textContent = p.audience.text; });
    field("cost_text").textContent = p.cost.text;
  }
  function renderVariant(v, set) {
    var section = el("section", { class: "preview-variant", "data-testid": "preview-variant" });
    section.appendChild(el("h3", {}, t.textVariant + " " + (v.label || "?") + " · " + v.share + " %"));
    section.appendChild(el("p", { class: "summary", "data-testid": "variant-summary" }, v.summary));
    section.appendChild(el("p", { class: "muted" }, v.per_message_text));
    if (v.culprits.length) {
      var box = el("div", { class: "culprits", "data-testid": "culprits" });
      box.appendChild(el("p", {}, t.textCulprits));
      var list = el("ul");
      v.culprits.forEach(function (c) {
        var item = el("li");
        item.appendChild(el("code", {}, c.char));
        item.appendChild(document.createTextNode(" " + c.hint + " ×" + c.count + (c.in_text ? "" : " (" + t.textElsewhere + ")")));
        item.title = c.name;
        list.appendChild(item);
      });
      box.appendChild(list);
      if (v.transliterated !== null && set) {
        var button = el("button", { type: "button", "data-action": "transliterate" }, t.textTransliterate);
        button.addEventListener("click", function () {
          var area = set.querySelector('[data-role="template"]');
          area.value = v.transliterated;
          area.dispatchEvent(new Event("input", { bubbles: true }));
        });
        box.appendChild(button);
      }
      section.appendChild(box);
    }
    v.samples.forEach(function (s) {
      var bubble = el("div", { class: "bubble" });
      if (s.who) { bubble.appendChild(el("small", {}, s.who)); }
      bubble.appendChild(el("p", {}, s.text));
      section.appendChild(bubble);
    });
    return section;
  }
  function countEligible(button) {
    var out = field("eligible_text");
    var reasons = field("eligible_reasons");
    out.textContent = t.textCounting;
    reasons.replaceChildren();
    button.disabled = true;
    post(t.eligibleUrl).then(function (answer) {
      if (!answer.ok) {
        out.textContent = answer.body.error || t.textFailed;
        return;
      }
      out.textContent = answer.body.text;
      answer.body.reasons.forEach(function (r) { reasons.appendChild(el("li", {}, r.label + ": " + r.count)); });
      field("cost_text").textContent = answer.body.cost.text;
    }).catch(function () { out.textContent = t.textFailed; })
      .finally(function () { button.disabled = false; });
  }

  // --- wiring ---------------------------------------------------------------------------
  form.addEventListener("input", function (event) {
    if (event.target.matches('[data-role="label"]')) { renumber(); }
    schedule();
  });
  form.addEventListener("change", function () { toggles(); schedule(); });
  form.addEventListener("click", function (event) {
    var target = event.target.closest("[data-action]");
    if (!target) { return; }
    if (target.dataset.action === "add-variant") { addVariant(); }
    if (target.dataset.action === "remove-variant") { removeVariant(target.closest("fieldset")); }
  });
  panel.addEventListener("click", function (event) {
    var target = event.target.closest('[data-action="count-eligible"]');
    if (target) { countEligible(target); }
  });
  renumber();
  toggles();
  refresh();
})();
