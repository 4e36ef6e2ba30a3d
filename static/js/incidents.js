// Incident pages: the live timeline, Enter to post a note, ticking clocks. No inline script.
(function () {
  "use strict";

  // --- the timeline: every event arrives through #timeline-inbox (SSE or a form's answer) ---

  var FILTERS = {
    all: function () { return true; },
    key: function (li) { return li.dataset.pinned === "1"; },
    notes: function (li) { return li.dataset.kind === "note"; },
    automatic: function (li) { return li.dataset.kind !== "note"; },
  };
  var HEADER_KINDS = { declared: 1, status: 1, severity: 1, role: 1 };
  var refreshTimers = {};

  function live() { return document.querySelector("[data-last-seq]"); }

  function rememberSeq(seq) {
    var el = live();
    if (!el || seq <= Number(el.dataset.lastSeq || 0)) { return; }
    el.dataset.lastSeq = String(seq);
    // A reconnect made by the SSE extension opens a new EventSource from this attribute, so
    // it must carry where we are (the browser's own reconnects send Last-Event-ID instead).
    var url = el.getAttribute("sse-connect").replace(/([?&])after=\d*/, "$1after=" + seq);
    el.setAttribute("sse-connect", url);
  }

  function isNewer(a, b) { // does event a sort before b (newest first)?
    var at = Number(a.dataset.at), bt = Number(b.dataset.at);
    if (at !== bt) { return at > bt; }
    return Number(a.dataset.id) > Number(b.dataset.id);
  }

  // Bumped whenever a section is swapped in by a person's own action, so a refresh that was
  // asked for before it can never put the older state back.
  var swapGeneration = {};

  function defaultIndex(select) {
    var index = select.options.length ? 0 : -1;
    for (var i = 0; i < select.options.length; i++) {
      if (select.options[i].defaultSelected) { index = i; }
    }
    return index;
  }

  // Is someone in the middle of filling in a form of this section? Their focus is in it, or a
  // field holds something they have not sent yet. A refresh would throw that away.
  function isEditing(target) {
    var active = document.activeElement;
    if (target.contains(active) && active.matches("textarea, input, select")) { return true; }
    var fields = target.querySelectorAll("textarea, input, select");
    for (var i = 0; i < fields.length; i++) {
      var field = fields[i];
      if (field.tagName === "SELECT") {
        if (field.multiple) {
          for (var j = 0; j < field.options.length; j++) {
            if (field.options[j].selected !== field.options[j].defaultSelected) { return true; }
          }
        } else if (field.selectedIndex !== defaultIndex(field)) { return true; }
      } else if (field.type === "checkbox" || field.type === "radio") {
        if (field.checked !== field.defaultChecked) { return true; }
      } else if (field.type !== "hidden" && field.value !== field.defaultValue) {
        return true;
      }
    }
    return false;
  }

  function inFlight(target) {
    return target.classList.contains("htmx-request") || !!target.querySelector(".htmx-request");
  }

  var EDITING_RETRY_MS = 1000;

  function refreshPart(part, selector, delay) {
    var page = document.querySelector("[data-page-url]");
    if (!page || !document.querySelector(selector) || !window.htmx) { return; }
    clearTimeout(refreshTimers[part]);
    refreshTimers[part] = setTimeout(function () {
      var target = document.querySelector(selector);
      if (!target) { return; }
      // An action from this section is in flight: its own answer brings the fresh section.
      if (inFlight(target)) { return; }
      // Do not pull a form out from under someone filling it in; look again a little later.
      if (isEditing(target)) { refreshPart(part, selector, EDITING_RETRY_MS); return; }
      htmx.ajax("GET", page.dataset.pageUrl + "?part=" + part, {
        // select: a panel's answer also carries its stylesheet and script tags; take the box.
        target: selector, swap: "outerHTML", select: selector,
        headers: { "X-Vigil-Refresh": part + ":" + (swapGeneration[selector] || 0) }
      });
    }, delay || 150);
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (!target || !target.id) { return; }
    var selector = "#" + target.id;
    var headers = (event.detail.requestConfig && event.detail.requestConfig.headers) || {};
    var refresh = headers["X-Vigil-Refresh"];
    if (refresh) {
      var asked = Number(refresh.split(":")[1] || 0);
      if (asked !== (swapGeneration[selector] || 0)) {
        event.detail.shouldSwap = false; // the person's own action answered after it was asked
      } else if (inFlight(target)) {
        // They pressed a button of this section after the refresh was asked for: replacing
        // the section now would orphan that action's answer. The answer brings it fresh.
        event.detail.shouldSwap = false;
      } else if (isEditing(target)) {
        // They started typing while the refresh was on its way: keep their text, try later.
        event.detail.shouldSwap = false;
        refreshPart(refresh.split(":")[0], selector, EDITING_RETRY_MS);
      }
      return;
    }
    swapGeneration[selector] = (swapGeneration[selector] || 0) + 1;
  });

  function fileEvent(li) {
    var list = document.getElementById("timeline-list");
    var seq = Number(li.dataset.seq || 0);
    li.remove(); // out of the inbox first, so the lookup finds the one already shown
    var existing = document.getElementById(li.id);
    if (existing) {
      if (Number(existing.dataset.seq || 0) >= seq) { return false; } // already have this one
      existing.remove();
    }
    if (!list || li.dataset.deleted) { return true; }
    var filter = FILTERS[list.dataset.filter] || FILTERS.all;
    if (!filter(li)) { return true; }
    var before = null;
    for (var child = list.firstElementChild; child; child = child.nextElementSibling) {
      if (child.classList.contains("load-older") || isNewer(li, child)) { before = child; break; }
    }
    if (!before && list.querySelector(".load-older")) { return true; } // older than shown
    list.insertBefore(li, before);
    if (window.htmx) { htmx.process(li); }
    return true;
  }

  function drainInbox(inbox) {
    var items = Array.prototype.slice.call(inbox.querySelectorAll("li[data-seq]"));
    var kinds = {};
    items.forEach(function (li) {
      if (fileEvent(li)) { kinds[li.dataset.kind] = 1; }
    });
    inbox.textContent = "";
    if (Object.keys(kinds).some(function (k) { return HEADER_KINDS[k]; })) {
      refreshPart("header", "#incident-header");
    }
    if (kinds.checklist) { refreshPart("checklist", "#checklist"); }
    if (kinds.comms || kinds.severity) { refreshPart("status_update", "#status-update"); }
    if (kinds.runbook_step) { refreshPart("runbooks", "#rb-panel"); }
  }

  function watchInbox() {
    var inbox = document.getElementById("timeline-inbox");
    if (!inbox || inbox.dataset.watched) { return; }
    inbox.dataset.watched = "1";
    new MutationObserver(function () {
      if (inbox.querySelector("li[data-seq]")) { drainInbox(inbox); }
    }).observe(inbox, { childList: true });
  }

  // Only what the stream itself delivered moves the resume point: an action's answer can carry
  // newer events while older ones are still on their way through the stream.
  document.addEventListener("htmx:sseBeforeMessage", function (event) {
    var id = Number(event.detail && event.detail.lastEventId);
    if (id) { rememberSeq(id); }
  });

  // --- forms --------------------------------------------------------------------------------

  document.addEventListener("keydown", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("textarea[data-submit-on-enter]")) { return; }
    if (event.key !== "Enter" || event.shiftKey || event.isComposing) { return; }
    event.preventDefault();
    if (box.value.trim() && box.form) { box.form.requestSubmit(); }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (form && form.matches && form.matches("form[data-reset-on-success]") &&
        event.detail.xhr && event.detail.xhr.status < 300) { // a refusal keeps what was typed
      form.reset();
      var details = form.querySelector("details[open]");
      if (details) { details.open = false; }
    }
  });

  // A refused action (4xx) carries its message; let htmx show it instead of dropping it.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if (status === 400 || status === 403 || status === 409) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-focus-target]");
    if (!link) { return; }
    var target = document.getElementById(link.dataset.focusTarget);
    if (!target) { return; }
    event.preventDefault();
    target.scrollIntoView({ block: "center" });
    target.focus();
  });

  // --- clocks -------------------------------------------------------------------------------

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function span(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600);
    var m = Math.floor(s % 3600 / 60), sec = s % 60;
    if (d) { return d + "d " + h + "h " + pad(m) + "m"; }
    if (h) { return h + "h " + pad(m) + "m " + pad(sec) + "s"; }
    return m + "m " + pad(sec) + "s";
  }

  function ago(ms) { // as the template filter `ago` words it
    var m = Math.max(0, Math.floor(ms / 60000));
    var d = Math.floor(m / 1440), h = Math.floor(m % 1440 / 60);
    if (d) { return d + "d " + h + "h ago"; }
    if (h) { return h + "h " + pad(m % 60) + "m ago"; }
    return m ? m + " min ago" : "just now";
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-ago]").forEach(function (el) {
      el.textContent = ago(now - Date.parse(el.dataset.ago));
    });
    document.querySelectorAll("[data-duration-start]").forEach(function (el) {
      var end = el.dataset.durationEnd ? Date.parse(el.dataset.durationEnd) : now;
      el.textContent = span(end - Date.parse(el.dataset.durationStart));
    });
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      var left = Date.parse(el.dataset.countdown) - now;
      el.textContent = left >= 0 ? "in " + span(left) : span(-left) + " ago (overdue)";
      var box = el.closest(".update-due");
      if (box) { box.classList.toggle("is-overdue", left < 0); }
    });
  }

  function start() {
    watchInbox();
    tick();
    setInterval(tick, 1000);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
