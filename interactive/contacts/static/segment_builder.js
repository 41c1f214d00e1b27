// Segment builder: edits the definition JSON in the form's textarea and shows a live count
// fetched from the JSON count endpoint. No inline script (CSP: script-src 'self').
"use strict";
(function () {
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) { node.append(c); });
    return node;
  }
  function select(options, value, label) {
    var s = el("select", { "aria-label": label || "" });
    options.forEach(function (o) {
      var opt = el("option", { value: String(o[0]) }, [String(o[1])]);
      if (String(o[0]) === String(value)) { opt.selected = true; }
      s.append(opt);
    });
    return s;
  }
  function input(value, type) {
    var i = el("input", { type: type || "text" });
    i.value = value === undefined || value === null ? "" : String(value);
    return i;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("builder");
    var textarea = document.getElementById("definition");
    var countOut = document.getElementById("segment-count");
    if (!root || !textarea) { return; }
    var data = JSON.parse(document.getElementById("builder-data").textContent);
    var t = root.dataset;
    var definition;
    try { definition = JSON.parse(textarea.value); } catch (e) { definition = null; }
    if (!definition || !Array.isArray(definition.conditions)) { definition = { match: "all", conditions: [] }; }
    var attrTypes = {};
    data.attributes.forEach(function (a) { attrTypes[a.key] = a.type; });
    var kinds = data.kinds.filter(function (k) { return k.available || definition.conditions.some(function (c) { return c.kind === k.kind; }); });
    var timer = null;

    function defaults(kind) {
      if (kind === "attribute") { return { kind: kind, key: (data.attributes[0] || {}).key || "", op: "=", value: "" }; }
      if (kind === "field") { return { kind: kind, field: "first_name", op: "=", value: "" }; }
      if (kind === "list") { return { kind: kind, op: "in", list_id: (data.lists[0] || {}).id || "" }; }
      if (kind === "consent") { return { kind: kind, brand_id: (data.brands[0] || {}).id || "", status: "ONAY" }; }
      if (kind === "replied_to_campaign") { return { kind: kind, campaign_id: "", days: 7 }; }
      return { kind: kind, days: 30 };
    }
    function opsFor(c) {
      if (c.kind === "attribute") { return data.ops[attrTypes[c.key] || "text"]; }
      if (c.kind === "field") { return c.field === "created_at" ? ["<", "<=", ">", ">="] : data.ops.text; }
      return [];
    }
    function bind(node, c, key, numeric) {
      node.addEventListener("change", function () {
        var v = node.value;
        c[key] = numeric && v !== "" && !isNaN(Number(v)) ? Number(v) : v;
        render();
      });
      return node;
    }
    function row(c, index) {
      var parts = [bind(select(kinds.map(function (k) { return [k.kind, k.kind + (k.available ? "" : " (" + k.note + ")")]; }), c.kind, "kind"), c, "kind")];
      parts[0].addEventListener("change", function () { definition.conditions[index] = defaults(parts[0].value); render(); });
      if (c.kind === "attribute") {
        parts.push(bind(select(data.attributes.map(function (a) { return [a.key, a.label]; }), c.key), c, "key"));
      } else if (c.kind === "field") {
        parts.push(bind(select(data.fields.map(function (f) { return [f, f]; }), c.field), c, "field"));
      }
      var ops = opsFor(c);
      if (ops.length) {
        parts.push(bind(select(ops.map(function (o) { return [o, o]; }), c.op), c, "op"));
        if (c.op !== "is_set" && c.op !== "not_set") {
          var type = c.kind === "attribute" ? attrTypes[c.key] : (c.field === "created_at" ? "date" : "text");
          if (type === "boolean") {
            parts.push(bind(select([[true, "true"], [false, "false"]], c.value), c, "value"));
            parts[parts.length - 1].addEventListener("change", function (e) { c.value = e.target.value === "true"; render(); });
          } else {
            parts.push(bind(input(c.value, type === "date" ? "date" : "text"), c, "value", type === "number"));
          }
        }
      } else if (c.kind === "list") {
        parts.push(bind(select([["in", "in"], ["not_in", "not in"]], c.op), c, "op"));
        parts.push(bind(select(data.lists.map(function (l) { return [l.id, l.name]; }), c.list_id), c, "list_id", true));
      } else if (c.kind === "consent") {
        parts.push(bind(select(data.brands.map(function (b) { return [b.id, b.name]; }), c.brand_id), c, "brand_id", true));
        parts.push(bind(select([["ONAY", "ONAY"], ["RET", "RET"], ["none", "none"]], c.status), c, "status"));
      } else {
        if (c.kind === "replied_to_campaign") { parts.push(bind(input(c.campaign_id, "number"), c, "campaign_id", true)); }
        parts.push(bind(input(c.days, "number"), c, "days", true));
      }
      var remove = el("button", { type: "button", "class": "danger" }, [t.textRemove]);
      remove.addEventListener("click", function () { definition.conditions.splice(index, 1); render(); });
      parts.push(remove);
      return el("div", { "class": "inline-form condition" }, parts);
    }
    function render() {
      root.replaceChildren();
      var match = select([["all", t.textAll], ["any", t.textAny]], definition.match, t.textMatch);
      match.addEventListener("change", function () { definition.match = match.value; render(); });
      root.append(el("p", {}, [t.textMatch + " ", match]));
      definition.conditions.forEach(function (c, i) { root.append(row(c, i)); });
      var add = el("button", { type: "button" }, [t.textAdd]);
      add.addEventListener("click", function () { definition.conditions.push(defaults(kinds[0].kind)); render(); });
      root.append(add);
      textarea.value = JSON.stringify(definition);
      scheduleCount();
    }
    function scheduleCount() {
      clearTimeout(timer);
      countOut.textContent = t.textCounting;
      timer = setTimeout(function () {
        var url = t.countUrl + "?definition=" + encodeURIComponent(textarea.value);
        fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
          .then(function (r) { return r.json(); })
          .then(function (body) {
            countOut.textContent = body.error ? body.error : body.count.toLocaleString() + " " + t.textCount;
          })
          .catch(function () { countOut.textContent = "—"; });
      }, 300);
    }
    textarea.addEventListener("input", function () {
      try { definition = JSON.parse(textarea.value); } catch (e) { return; }
      scheduleCount();
    });
    root.hidden = false;
    render();
  });
})();
