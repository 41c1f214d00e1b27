// The survey builder: an editor of the questions that writes them as JSON into the form's
// "questions" textarea (the stored format), and the chat preview, which posts the form
// with the replies typed so far and shows the survey's answers (as text, never HTML).
"use strict";
(function () {
  var form = document.getElementById("survey-form");
  var box = document.getElementById("question-editor");
  var area = document.getElementById("questions");
  if (!form || !box || !area) { return; }
  var T = JSON.parse(document.getElementById("builder-texts").textContent);
  var CHOICE = ["single_choice", "multiple_choice"];
  var BOUNDED = ["rating", "number"];
  var questions = [];

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }
  function labelled(text, input) {
    var wrap = el("label", { "class": "field" });
    wrap.appendChild(el("span", {}, text));
    wrap.appendChild(input);
    return wrap;
  }
  function input(value, onChange, attrs) {
    var node = el("input", attrs || {});
    node.value = value === undefined || value === null ? "" : value;
    node.addEventListener("input", function () { onChange(node.value); write(); });
    return node;
  }
  function select(options, value, onChange, attrs) {
    var node = el("select", attrs || {});
    options.forEach(function (o) {
      var option = el("option", { value: o[0] }, o[1]);
      if (String(o[0]) === String(value === undefined || value === null ? "" : value)) { option.selected = true; }
      node.appendChild(option);
    });
    node.addEventListener("change", function () { onChange(node.value); write(); render(); });
    return node;
  }
  function button(text, onClick, cls) {
    var node = el("button", { type: "button", "class": cls || "link" }, text);
    node.addEventListener("click", function () { onClick(); write(); render(); });
    return node;
  }
  function clean(q) {
    // Fields the editor does not show (integer_only, lettered, min/max_choices…) are kept.
    var out = Object.assign({}, q, { text: q.text || "" });
    ["reprompt", "options", "min", "max", "branches", "next"].forEach(function (k) { delete out[k]; });
    if (q.reprompt) { out.reprompt = q.reprompt; }
    if (CHOICE.indexOf(q.type) >= 0) {
      out.options = (q.options || []).map(function (o) {
        var option = typeof o === "string" ? { label: o, synonyms: [] } : o;
        var synonyms = option.synonyms || [];
        if (typeof synonyms === "string") { synonyms = synonyms.split(","); }
        return { label: option.label || "", synonyms: synonyms.map(function (s) { return s.trim(); }).filter(Boolean) };
      });
    }
    if (BOUNDED.indexOf(q.type) >= 0) {
      if (q.min !== undefined && q.min !== null && q.min !== "") { out.min = Number(q.min); }
      if (q.max !== undefined && q.max !== null && q.max !== "") { out.max = Number(q.max); }
    }
    var branches = (q.branches || []).filter(function (b) { return b.when !== "" && b.when !== undefined && b.goto; });
    if (branches.length) { out.branches = branches.map(function (b) { return { when: b.when, goto: b.goto }; }); }
    if (q.next) { out.next = q.next; }
    return out;
  }
  function write() {
    area.value = JSON.stringify(questions.map(clean), null, 2);
  }
  function read() {
    try {
      var parsed = JSON.parse(area.value || "[]");
      if (!Array.isArray(parsed)) { throw new Error("not a list"); }
      questions = parsed;
      return true;
    } catch (e) {
      box.textContent = T.bad_json;
      document.getElementById("questions-json").open = true;
      return false;
    }
  }
  function targets(index) {
    var list = [["", T.following]];
    questions.forEach(function (q, i) { if (i > index && q.key) { list.push([q.key, q.key]); } });
    list.push(["end", T.end]);
    return list;
  }
  function move(index, by) {
    var to = index + by;
    if (to < 0 || to >= questions.length) { return; }
    var item = questions.splice(index, 1)[0];
    questions.splice(to, 0, item);
  }
  function question(q, index) {
    var card = el("fieldset", { "class": "question-edit", "data-testid": "question" });
    card.appendChild(el("legend", {}, T.question_n.replace("{n}", index + 1)));
    var head = el("div", { "class": "row" });
    head.appendChild(labelled(T.key, input(q.key, function (v) { q.key = v.trim().toLowerCase(); }, { maxlength: "32", "data-field": "key" })));
    var types = Object.keys(T.types).map(function (k) { return [k, T.types[k]]; });
    head.appendChild(labelled(T.type, select(types, q.type, function (v) { q.type = v; }, { "data-field": "type" })));
    card.appendChild(head);
    var text = el("textarea", { rows: "2", "data-field": "text" });
    text.value = q.text || "";
    text.addEventListener("input", function () { q.text = text.value; write(); });
    card.appendChild(labelled(T.text, text));
    card.appendChild(labelled(T.reprompt, input(q.reprompt, function (v) { q.reprompt = v; }, { title: T.reprompt_hint })));
    if (CHOICE.indexOf(q.type) >= 0) {
      q.options = q.options || [];
      var options = el("div", { "class": "options" });
      options.appendChild(el("strong", {}, T.options));
      q.options.forEach(function (o, i) {
        if (typeof o === "string") { o = q.options[i] = { label: o, synonyms: [] }; }
        var row = el("div", { "class": "row option" });
        row.appendChild(el("span", { "class": "number" }, String(i + 1)));
        row.appendChild(input(o.label, function (v) { o.label = v; }, { "aria-label": T.option + " " + (i + 1), "data-field": "option" }));
        var synonyms = Array.isArray(o.synonyms) ? o.synonyms.join(", ") : (o.synonyms || "");
        row.appendChild(input(synonyms, function (v) { o.synonyms = v; }, { "aria-label": T.synonyms, placeholder: T.synonyms }));
        row.appendChild(button(T.remove, function () { q.options.splice(i, 1); }));
        options.appendChild(row);
      });
      options.appendChild(button(T.add_option, function () { q.options.push({ label: "", synonyms: [] }); }, "small"));
      card.appendChild(options);
    }
    if (BOUNDED.indexOf(q.type) >= 0) {
      var bounds = el("div", { "class": "row" });
      bounds.appendChild(labelled(T.min, input(q.min, function (v) { q.min = v; }, { type: "number", placeholder: q.type === "rating" ? "1" : "" })));
      bounds.appendChild(labelled(T.max, input(q.max, function (v) { q.max = v; }, { type: "number", placeholder: q.type === "rating" ? "5" : "" })));
      card.appendChild(bounds);
    }
    var branches = el("div", { "class": "branches" });
    branches.appendChild(el("strong", {}, T.branches));
    q.branches = q.branches || [];
    q.branches.forEach(function (b, i) {
      var row = el("div", { "class": "row branch" });
      row.appendChild(labelled(T.when, input(b.when, function (v) { b.when = v; }, { title: T.when_hint, placeholder: T.when_hint })));
      row.appendChild(labelled(T.goto, select(targets(index).slice(1), b.goto, function (v) { b.goto = v; })));
      row.appendChild(button(T.remove, function () { q.branches.splice(i, 1); }));
      branches.appendChild(row);
    });
    branches.appendChild(button(T.add_branch, function () { q.branches.push({ when: "", goto: "end" }); }, "small"));
    card.appendChild(branches);
    card.appendChild(labelled(T.next, select(targets(index), q.next, function (v) { q.next = v; })));
    var tools = el("div", { "class": "actions" });
    tools.appendChild(button(T.up, function () { move(index, -1); }));
    tools.appendChild(button(T.down, function () { move(index, 1); }));
    tools.appendChild(button(T.remove, function () { questions.splice(index, 1); }, "link danger"));
    card.appendChild(tools);
    return card;
  }
  function render() {
    box.textContent = "";
    questions.forEach(function (q, i) { box.appendChild(question(q, i)); });
  }
  function nextKey() {
    var n = questions.length + 1;
    var keys = questions.map(function (q) { return q.key; });
    while (keys.indexOf("q" + n) >= 0) { n += 1; }
    return "q" + n;
  }
  document.getElementById("add-question").addEventListener("click", function () {
    if (!read()) { return; }
    questions.push({ key: nextKey(), type: "single_choice", text: "", options: [{ label: "", synonyms: [] }, { label: "", synonyms: [] }] });
    write();
    render();
    var last = box.lastElementChild && box.lastElementChild.querySelector('[data-field="text"]');
    if (last) { last.focus(); }
  });
  area.addEventListener("change", function () { if (read()) { render(); } });
  if (read()) { render(); }

  // --- preview -------------------------------------------------------------------------
  var chat = document.getElementById("preview-chat");
  var reply = document.getElementById("preview-reply");
  var textBox = document.getElementById("preview-text");
  var error = document.getElementById("preview-error");
  var replies = [];
  function bubble(line) {
    var item = el("li", { "class": "bubble " + (line.who === "customer" ? "received" : "sent") });
    item.appendChild(el("span", { "class": "text" }, line.text));
    if (line.note) { item.appendChild(el("small", { "class": "muted" }, line.note)); }
    return item;
  }
  function play() {
    write();
    var data = new FormData(form);
    replies.forEach(function (r) { data.append("replies", r); });
    fetch(form.dataset.previewUrl, { method: "POST", body: data, credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (result) {
        chat.textContent = "";
        if (result.error) {
          error.textContent = result.error;
          error.hidden = false;
          return;
        }
        error.hidden = true;
        result.lines.forEach(function (line) { chat.appendChild(bubble(line)); });
        chat.scrollTop = chat.scrollHeight;
      })
      .catch(function () { error.textContent = "…"; error.hidden = false; });
  }
  reply.addEventListener("submit", function (event) {
    event.preventDefault();
    if (textBox.value.trim()) { replies.push(textBox.value); }
    textBox.value = "";
    play();
  });
  document.getElementById("preview-restart").addEventListener("click", function () {
    replies = [];
    play();
  });
  var timer = null;
  form.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(play, 600);
  });
  play();
})();
