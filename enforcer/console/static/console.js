// The console works without this file. With it, a live page refreshes its <main> on each
// server-sent "change" event from /console/events, or every two seconds where the stream is not
// available (no EventSource, or the stream failed); never while a form field has focus.
// Expiry countdowns tick every second. <html data-live="sse|poll"> says which is in use.
(function () {
  "use strict";
  function left(iso) {
    if (!iso) return "never";
    var s = Math.floor((Date.parse(iso) - Date.now()) / 1000);
    if (s <= 0) return "due";
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d) return d + "d" + h + "h";
    if (h) return h + "h" + String(m).padStart(2, "0") + "m" + String(s % 60).padStart(2, "0") + "s";
    return m ? m + "m" + String(s % 60).padStart(2, "0") + "s" : (s % 60) + "s";
  }
  function tick() {
    document.querySelectorAll(".countdown[data-expires]").forEach(function (el) {
      el.textContent = left(el.dataset.expires);
    });
  }
  var main = document.getElementById("main");
  var live = !!(main && main.hasAttribute("data-live"));
  function mode(m) { document.documentElement.dataset.live = m; }
  function refresh() {
    var active = document.activeElement;
    if (active && main.contains(active) && /INPUT|SELECT|TEXTAREA/.test(active.tagName)) return;
    fetch(location.href, { headers: { "X-Console-Fragment": "1" }, credentials: "same-origin" })
      .then(function (r) { if (r.redirected) { location.reload(); } return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null && html !== undefined) { main.innerHTML = html; tick(); } })
      .catch(function () {});
  }
  if (live) {
    mode("poll");
    if (window.EventSource) {
      var stream = new EventSource("/console/events");
      stream.onopen = function () { mode("sse"); };
      stream.onerror = function () { mode("poll"); };  // reconnecting or closed: poll meanwhile
      stream.addEventListener("change", refresh);
    }
    setInterval(function () { if (document.documentElement.dataset.live === "poll") refresh(); }, 2000);
  }
  tick();
  setInterval(tick, 1000);
})();
