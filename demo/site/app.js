// The Tern demo page: show how old this cached copy is, poll /api/time
// through the CDN, and point the curl examples at the address in use.
(function () {
  "use strict";

  var origin = window.location.origin;
  if (origin && origin.indexOf("http") === 0) {
    document.querySelectorAll(".edge").forEach(function (el) { el.textContent = origin; });
  }

  var rendered = document.getElementById("rendered");
  var renderedAt = rendered ? Date.parse(rendered.getAttribute("datetime")) : NaN;
  var ageValue = document.getElementById("age-value");

  function showAge() {
    if (!ageValue || isNaN(renderedAt)) return;
    var s = Math.max(0, Math.round((Date.now() - renderedAt) / 1000));
    ageValue.textContent = s < 120 ? s + " seconds" : "about " + Math.round(s / 60) + " minutes";
  }

  var live = document.getElementById("live");
  var liveCache = document.getElementById("live-cache");

  function poll() {
    fetch("/api/time", { cache: "no-cache" })
      .then(function (resp) {
        var xcache = resp.headers.get("X-Cache") || "";
        var age = resp.headers.get("Age");
        liveCache.textContent = (xcache ? xcache : "direct from origin") + (age ? " · Age " + age + "s" : "");
        return resp.json();
      })
      .then(function (body) { live.textContent = body.time; })
      .catch(function () { live.textContent = "unavailable"; liveCache.textContent = ""; });
  }

  showAge();
  poll();
  setInterval(showAge, 1000);
  setInterval(poll, 2000);
})();
