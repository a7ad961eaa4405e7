// The console works without this file; with it, a live page refreshes its <main> every two
// seconds (unless a form field has focus) and expiry countdowns tick every second.
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
  function poll() {
    if (!main || !main.hasAttribute("data-live")) return;
    var active = document.activeElement;
    if (active && main.contains(active) && /INPUT|SELECT|TEXTAREA/.test(active.tagName)) return;
    fetch(location.href, { headers: { "X-Console-Fragment": "1" }, credentials: "same-origin" })
      .then(function (r) { if (r.redirected) { location.reload(); } return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null && html !== undefined) { main.innerHTML = html; tick(); } })
      .catch(function () {});
  }
  tick();
  setInterval(tick, 1000);
  setInterval(poll, 2000);
})();
