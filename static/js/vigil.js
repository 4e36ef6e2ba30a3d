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
  function showBell(html) {
    var current = document.getElementById("notification-bell");
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    var fresh = template.content.firstElementChild;
    if (current && fresh && fresh.id === "notification-bell") current.replaceWith(fresh);
  }

  // A page with a live stream of its own (the incident page) gets the bell on it: one
  // connection per tab, whatever the page shows.
  document.addEventListener("htmx:sseMessage", function (event) {
    if (!event.detail || event.detail.type !== "bell") return;
    var inbox = document.getElementById("bell-inbox");
    if (inbox) {
      showBell(inbox.innerHTML);
      inbox.textContent = "";
    }
  });

  function liveBell() {
    var bell = document.getElementById("notification-bell");
    if (!bell || !bell.dataset.stream || !window.EventSource) return;
    if (document.getElementById("bell-inbox")) return; // the page's own stream carries it
    var url = bell.dataset.stream;
    var source = null;
    function onBell(event) {
      showBell(event.data);
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
