// Vigil's small behaviours. No inline script anywhere: the CSP forbids it.
(function () {
  "use strict";
  // Move keyboard focus to the main area after an HTMX page swap, for screen readers.
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.detail && event.detail.target && event.detail.target.id === "main") {
      event.detail.target.focus();
    }
  });
})();
