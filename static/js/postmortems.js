// Postmortems: show a refused save (409 conflict, 400, 403) in place instead of dropping it.
(function () {
  "use strict";
  var SHOWN = { 400: true, 403: true, 409: true };
  document.addEventListener("htmx:beforeSwap", function (event) {
    var elt = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (!elt || !elt.closest || !elt.closest("[data-swap-errors]")) {
      return;
    }
    if (SHOWN[event.detail.xhr.status]) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
