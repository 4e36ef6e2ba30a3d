// On-call calendar: place shift blocks from their data- attributes (the CSP forbids inline
// style attributes; CSSOM assignments are allowed). Without JavaScript the blocks are a list.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function place(root) {
    root.querySelectorAll(".cal-track [data-left]").forEach(function (el) {
      el.style.left = el.dataset.left + "%";
      if (el.dataset.width) {
        el.style.width = el.dataset.width + "%";
      }
    });
    root.querySelectorAll(".cal-track").forEach(function (track) {
      track.classList.add("is-placed");
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    place(document);
  });
  // New content from an HTMX swap (the calendar's previous/next/view/time-zone links).
  document.addEventListener("htmx:load", function () {
    place(document);
  });
})();
