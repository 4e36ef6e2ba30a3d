// Vigil's small behaviours. No inline script anywhere: the CSP forbids it.
(function () {
  "use strict";
  // Move keyboard focus to the main area after an HTMX page swap, for screen readers.
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.detail && event.detail.target && event.detail.target.id === "main") {
      event.detail.target.focus();
    }
  });

  // The notification bell is live: server-sent events carry its markup whenever the
  // person's notifications change. A hidden tab lets its connection go (browsers allow only
  // a few per site) and the first event after it is shown again brings it up to date.
  function liveBell() {
    var bell = document.getElementById("notification-bell");
    if (!bell || !bell.dataset.stream || !window.EventSource) return;
    var url = bell.dataset.stream;
    var source = null;
    function onBell(event) {
      var current = document.getElementById("notification-bell");
      var template = document.createElement("template");
      template.innerHTML = event.data.trim();
      var fresh = template.content.firstElementChild;
      if (current && fresh && fresh.id === "notification-bell") current.replaceWith(fresh);
    }
    function connect() {
      if (source || document.hidden) return;
      source = new EventSource(url);
      source.addEventListener("bell", onBell);
    }
    function disconnect() {
      if (source) {
        source.close();
        source = null;
      }
    }
    document.addEventListener("visibilitychange", function () {
      if (document.hidden) disconnect();
      else connect();
    });
    window.addEventListener("pagehide", disconnect);
    window.addEventListener("pageshow", connect);
    connect();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", liveBell);
  else liveBell();
})();
