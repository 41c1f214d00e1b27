// The desk's board: poll for changes, reload the board's body when something changed,
// and cue (flash + a short tone) when a new request arrives.
(function () {
  "use strict";
  var board = document.getElementById("board");
  if (!board) return;
  var cue = document.getElementById("new-request-cue");
  var latest = null;
  var version = board.querySelector(".board").dataset.version;

  function tone() {
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      var ctx = new Ctx();
      var osc = ctx.createOscillator();
      osc.frequency.value = 880;
      osc.connect(ctx.destination);
      osc.start();
      osc.stop(ctx.currentTime + 0.2);
    } catch (e) { /* no sound: the flash is enough */ }
  }

  function reload(isNew) {
    fetch(board.dataset.body, { headers: { "Accept": "text/html" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) return;
        board.innerHTML = html;
        version = board.querySelector(".board").dataset.version;
        if (isNew) {
          board.querySelectorAll(".request").forEach(function (el) {
            if (Number(el.dataset.booking) > (latest.previous || 0)) el.classList.add("new");
          });
          cue.hidden = false;
          tone();
          setTimeout(function () { cue.hidden = true; }, 8000);
        }
      });
  }

  function poll() {
    fetch(board.dataset.updates, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return;
        var isNew = latest !== null && data.latest_pending > latest.id;
        var previous = latest ? latest.id : data.latest_pending;
        latest = { id: data.latest_pending, previous: previous };
        if (data.version !== version) reload(isNew);
      })
      .catch(function () { /* try again at the next tick */ })
      .finally(function () { setTimeout(poll, 3000); });
  }
  poll();
})();
