// Runbooks: a copy button on every code block, and feedback while a step tick is sent.
(function () {
  "use strict";

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } finally { document.body.removeChild(area); }
    return Promise.resolve();
  }

  function addCopyButtons(root) {
    var blocks = root.querySelectorAll(".rb-body pre");
    blocks.forEach(function (pre, index) {
      if (pre.querySelector(".rb-copy")) { return; }
      var button = document.createElement("button");
      button.type = "button";
      button.className = "rb-copy";
      button.textContent = "Copy";
      button.setAttribute("aria-label", "Copy code block " + (index + 1));
      button.addEventListener("click", function () {
        var code = pre.querySelector("code") || pre;
        copyText(code.innerText.replace(/\n$/, "")).then(function () {
          button.textContent = "Copied";
          setTimeout(function () { button.textContent = "Copy"; }, 1500);
        }, function () {
          button.textContent = "Copy failed";
        });
      });
      pre.appendChild(button);
    });
  }

  document.addEventListener("DOMContentLoaded", function () { addCopyButtons(document); });
  document.addEventListener("htmx:afterSettle", function (event) { addCopyButtons(event.target); });

  // A tick is one tap: show it is on its way and stop a double tap sending it twice.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.target.closest && event.target.closest(".rb-tick-form");
    if (!form) { return; }
    var button = form.querySelector("button");
    if (button.getAttribute("aria-busy") === "true") { event.preventDefault(); return; }
    button.setAttribute("aria-busy", "true");
  });
  document.addEventListener("htmx:responseError", function (event) {
    var form = event.target.closest && event.target.closest(".rb-tick-form");
    if (form) { form.querySelector("button").removeAttribute("aria-busy"); }
  });
})();
