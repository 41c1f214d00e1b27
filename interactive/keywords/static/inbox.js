// The inbox: the thread list and the open conversation refresh themselves by polling small
// JSON answers; the reply box counts parts as one types and inserts quick replies.
// No inline script (CSP: script-src 'self'). Message texts come from strangers: they are
// only ever set with textContent, never parsed as HTML.
"use strict";
(function () {
  var POLL_MS = 3000;

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }
  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); });
  }
  function post(url, data) {
    return fetch(url, {
      method: "POST", body: data, credentials: "same-origin",
      headers: { Accept: "application/json", "X-Requested-With": "fetch" }
    }).then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); });
  }
  function every(ms, task) {
    function tick() {
      var run = document.hidden ? Promise.resolve() : task();
      run.catch(function () { /* the next round tries again */ })
        .then(function () { setTimeout(tick, ms); });
    }
    setTimeout(tick, ms);
  }
  function setNavUnread(count) {
    var link = document.querySelector("[data-inbox-link]");
    if (!link) { return; }
    var badge = link.querySelector("[data-inbox-unread]");
    if (!count) { if (badge) { badge.remove(); } return; }
    if (!badge) {
      badge = el("span", { class: "badge", "data-inbox-unread": "" });
      link.appendChild(document.createTextNode(" "));
      link.appendChild(badge);
    }
    badge.textContent = String(count);
  }
  function csrfField(token) {
    return el("input", { type: "hidden", name: "csrf_token", value: token });
  }

  // --- the thread list ------------------------------------------------------------------
  function threadRow(row, texts) {
    var item = el("li", { class: "thread-row" + (row.unread ? " unread" : ""), "data-id": String(row.id) });
    var link = el("a", { href: row.url });
    var who = el("span", { class: "who" });
    who.appendChild(el("strong", {}, row.name || row.phone));
    if (row.name) {
      who.appendChild(document.createTextNode(" "));
      who.appendChild(el("span", { class: "muted" }, row.phone));
    }
    who.appendChild(document.createTextNode(" "));
    who.appendChild(el("span", { class: "muted" }, "→ " + row.short_code));
    link.appendChild(who);
    link.appendChild(el("time", { class: "muted" }, row.at));
    link.appendChild(el("span", { class: "preview" }, row.last_text));
    var tags = el("span", { class: "tags" });
    if (row.decision) { tags.appendChild(el("span", { class: "badge decision-" + row.decision }, row.decision_label)); }
    if (row.state === "closed") { tags.appendChild(el("span", { class: "badge" }, row.state_label)); }
    if (row.assigned) { tags.appendChild(el("span", { class: "badge assigned" }, "→ " + row.assigned)); }
    if (row.unread) { tags.appendChild(el("span", { class: "badge unread-count", title: texts.textUnread }, row.unread)); }
    link.appendChild(tags);
    item.appendChild(link);
    return item;
  }
  function threadList(list) {
    var last = null;
    every(POLL_MS, function () {
      return getJSON(list.dataset.pollUrl).then(function (answer) {
        Object.keys(answer.unread).forEach(function (name) {
          var badge = document.querySelector('[data-unread="' + name + '"]');
          if (badge) { badge.textContent = String(answer.unread[name]); badge.hidden = !answer.unread[name]; }
        });
        setNavUnread(answer.unread.total);
        var text = JSON.stringify(answer.rows);
        if (text === last) { return; }
        last = text;
        if (!answer.rows.length) {
          list.replaceChildren(el("li", { class: "empty muted" }, list.dataset.textEmpty));
          return;
        }
        list.replaceChildren.apply(list, answer.rows.map(function (row) { return threadRow(row, list.dataset); }));
      });
    });
  }

  // --- the conversation -----------------------------------------------------------------
  function reviewBox(item, chat) {
    var box = el("div", { class: "review", "data-field": "review" });
    [[item.confirm_url, chat.dataset.textConfirm, "danger"], [item.dismiss_url, chat.dataset.textDismiss, ""]].forEach(function (spec) {
      var form = el("form", { method: "post", action: spec[0], class: "inline" });
      form.appendChild(csrfField(chat.dataset.csrf));
      form.appendChild(el("button", { type: "submit", class: spec[2] }, spec[1]));
      box.appendChild(form);
    });
    return box;
  }
  function bubble(item, chat) {
    var node = el("li", { class: "bubble " + (item.kind === "in" ? "received" : "sent"), "data-key": item.key });
    node.appendChild(el("p", { class: "text" }, item.text));
    var meta = el("small", { class: "meta muted" });
    meta.appendChild(el("time", {}, item.at));
    meta.appendChild(document.createTextNode(" · "));
    if (item.kind === "in") {
      meta.appendChild(el("span", { class: "badge decision-" + (item.decision || "none"), "data-field": "decision" }, item.decision_label));
    } else {
      meta.appendChild(el("span", { class: "badge state-" + (item.state || "none"), "data-field": "state" }, item.state_label));
      meta.appendChild(document.createTextNode(" · " + item.traffic_label));
    }
    node.appendChild(meta);
    if (item.kind === "in" && item.reason) { node.appendChild(el("small", { class: "reason", "data-field": "reason" }, item.reason)); }
    if (item.confirm_url) { node.appendChild(reviewBox(item, chat)); }
    return node;
  }
  function update(node, item, chat) {
    var field = item.kind === "in" ? "decision" : "state";
    var badge = node.querySelector('[data-field="' + field + '"]');
    var value = item.kind === "in" ? item.decision : item.state;
    if (badge && badge.textContent !== (item.kind === "in" ? item.decision_label : item.state_label)) {
      badge.textContent = item.kind === "in" ? item.decision_label : item.state_label;
      badge.className = "badge " + field + "-" + (value || "none");
    }
    var reason = node.querySelector('[data-field="reason"]');
    if (reason && item.reason !== undefined && reason.textContent !== item.reason) { reason.textContent = item.reason; }
    var review = node.querySelector('[data-field="review"]');
    if (review && !item.confirm_url) { review.remove(); }
    if (!review && item.confirm_url) { node.appendChild(reviewBox(item, chat)); }
  }
  function conversation(chat) {
    every(POLL_MS, function () {
      return getJSON(chat.dataset.pollUrl).then(function (answer) {
        var known = {};
        chat.querySelectorAll("li[data-key]").forEach(function (node) { known[node.dataset.key] = node; });
        var arrived = false;
        answer.items.forEach(function (item) {
          if (known[item.key]) { update(known[item.key], item, chat); return; }
          var empty = chat.querySelector("li.empty");
          if (empty) { empty.remove(); }
          chat.appendChild(bubble(item, chat));
          if (item.kind === "in") { arrived = true; }
        });
        setNavUnread(answer.unread_total);
        if ((arrived || answer.unread) && !document.hidden) {
          var data = new FormData();
          data.append("csrf_token", chat.dataset.csrf);
          return post(chat.dataset.readUrl, data).then(function () {
            setNavUnread(Math.max(0, answer.unread_total - 1));
          });
        }
      });
    });
  }

  // --- the reply box --------------------------------------------------------------------
  function replyBox(form) {
    var area = form.querySelector("textarea");
    var counter = document.getElementById("reply-counter");
    var note = document.getElementById("reply-note");
    var picker = document.getElementById("quick-reply");
    var timer = null;
    var sequence = 0;
    function count() {
      var mine = ++sequence;
      var data = new FormData();
      data.append("csrf_token", form.elements.csrf_token.value);
      data.append("text", area.value);
      data.append("short_code", form.dataset.shortCode);
      post(form.dataset.segmentsUrl, data).then(function (answer) {
        if (mine !== sequence) { return; }
        counter.textContent = answer.summary;
        counter.parentNode.classList.toggle("too-long", answer.too_long);
        note.textContent = answer.note;
      }).catch(function () { /* the counter is a help, not a gate */ });
    }
    area.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(count, 250);
    });
    if (picker) {
      picker.addEventListener("change", function () {
        var option = picker.selectedOptions[0];
        if (!option || !option.value) { return; }
        area.focus();
        area.setRangeText(option.dataset.body, area.selectionStart, area.selectionEnd, "end");
        picker.value = "";
        area.dispatchEvent(new Event("input", { bubbles: true }));
      });
    }
    form.addEventListener("submit", function () {
      var button = form.querySelector('button[type="submit"]');
      setTimeout(function () { button.disabled = true; }, 0);
    });
    count();
  }

  var list = document.getElementById("threads");
  if (list && list.dataset.pollUrl) { threadList(list); }
  var chat = document.getElementById("conversation");
  if (chat && chat.dataset.pollUrl) { conversation(chat); }
  var form = document.getElementById("reply-form");
  if (form) { replyBox(form); }
})();
