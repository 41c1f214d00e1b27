/*
 * interactive conversions: ic.js (no dependencies, about 1 KB).
 *
 * 1. On every landing page, load it from the SMS platform's host (the short-link host):
 *
 *      <script src="https://go.example.com/ic.js" defer></script>
 *
 *    When the address carries the click token (?ic=..., appended by the short-link
 *    redirect), it is kept in this site's own localStorage (first-party) for 30 days; a
 *    later click replaces it (last click wins).
 *
 * 2. On the thank-you page, load it too and report the conversion:
 *
 *      <script src="https://go.example.com/ic.js"></script>
 *      <script>interactiveConversion("purchase", 149.90, "TRY", "order-123");</script>
 *
 *    interactiveConversion(event, value, currency, orderId) fires the pixel
 *    (https://go.example.com/p.gif?ic=...&e=...&v=...&c=...&o=...) when a token is stored
 *    and returns true; without one it does nothing and returns false. Value, currency and
 *    order id are optional; with an order id the order counts once, also when the shop's
 *    server sends the same order by postback.
 *
 * Under a Content-Security-Policy, allow the host in script-src and img-src.
 */
(function (window, document) {
  "use strict";
  var KEY = "interactive_ic";
  var DAYS = 30;
  var TOKEN = /^[A-Za-z0-9_-]{1,32}$/;
  var script = document.currentScript;
  var origin = script && script.src ? new URL(script.src, window.location.href).origin : "";

  function keep() {
    try {
      var token = new URLSearchParams(window.location.search).get("ic");
      if (token && TOKEN.test(token)) {
        var until = Date.now() + DAYS * 24 * 3600 * 1000;
        window.localStorage.setItem(KEY, JSON.stringify({ ic: token, until: until }));
      }
    } catch (e) { /* storage disabled: nothing to keep */ }
  }

  function stored() {
    try {
      var saved = JSON.parse(window.localStorage.getItem(KEY) || "null");
      if (saved && saved.until > Date.now() && TOKEN.test(saved.ic)) return saved.ic;
      window.localStorage.removeItem(KEY);
    } catch (e) { /* storage disabled or unreadable */ }
    return null;
  }

  window.interactiveConversion = function (event, value, currency, orderId) {
    var token = stored();
    if (!token || !origin) return false;
    var query = new URLSearchParams({ ic: token, e: event || "conversion" });
    if (value !== undefined && value !== null && value !== "") query.set("v", String(value));
    if (currency) query.set("c", String(currency));
    if (orderId) query.set("o", String(orderId));
    var image = new Image(1, 1);
    image.src = origin + "/p.gif?" + query.toString();
    return true;
  };

  keep();
})(window, document);
