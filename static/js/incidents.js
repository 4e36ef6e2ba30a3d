// Incident pages: the live timeline, the parts the server names refreshed, Enter to post a
// note, ticking clocks. No inline script.
(function () {
  "use strict";

  // --- the timeline: every event arrives through #timeline-inbox (SSE or a form's answer) ---

  var FILTERS = {
    all: function () { return true; },
    key: function (li) { return li.dataset.pinned === "1"; },
    notes: function (li) { return li.dataset.kind === "note"; },
    automatic: function (li) { return li.dataset.kind !== "note"; },
  };
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

  // Is someone in the middle of filling in a form of this section? Their focus is in it, a
  // field holds something they have not sent yet, or they opened one (Change severity, Assign
  // roles). A refresh would throw that away, or fold it shut under their click.
  function isEditing(target) {
    var active = document.activeElement;
    if (target.contains(active) && active.matches("textarea, input, select")) { return true; }
    if (target.querySelector("details[open][data-opened] form")) { return true; }
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

  // A person opening a folded form (not one the page shows open) marks it as theirs.
  document.addEventListener("click", function (event) {
    var summary = event.target.closest && event.target.closest("summary");
    var details = summary && summary.parentElement;
    if (details && details.tagName === "DETAILS" && !details.open) { details.dataset.opened = "1"; }
  }, true);

  // Is an action of this section (one of its forms or buttons) on its way?
  function inFlight(target) { return !!target.querySelector(".htmx-request"); }

  var REFRESH_DELAY_MS = 150;
  var EDITING_RETRY_MS = 1000;
  var REFRESH_GIVE_UP_MS = 10000;
  var refreshing = {}; // part name -> when its refresh was sent, until its answer is in

  // Every refreshable part of the page is a box marked data-part="<name>" (its own sections
  // and each app's panel); the server says which ones a change touched, by name.
  function partBox(part) {
    return document.querySelector('[data-part="' + CSS.escape(part) + '"]');
  }

  function refreshPart(part, delay) {
    var page = document.querySelector("[data-page-url]");
    var box = partBox(part);
    if (!page || !box || !box.id || !window.htmx) { return; }
    var selector = "#" + box.id;
    clearTimeout(refreshTimers[part]);
    refreshTimers[part] = setTimeout(function () {
      var target = document.querySelector(selector);
      if (!target) { return; }
      // Its last refresh is still on its way: ask again once it is in, for what changed since.
      if (Date.now() - (refreshing[part] || 0) < REFRESH_GIVE_UP_MS) {
        refreshPart(part, REFRESH_DELAY_MS);
        return;
      }
      // An action from this section is in flight: its own answer brings the fresh section.
      if (inFlight(target)) { return; }
      // Do not pull a form out from under someone filling it in; look again a little later.
      if (isEditing(target)) { refreshPart(part, EDITING_RETRY_MS); return; }
      refreshing[part] = Date.now();
      var answered = function () { refreshing[part] = 0; };
      htmx.ajax("GET", page.dataset.pageUrl + "?part=" + encodeURIComponent(part), {
        // source: htmx sends one request at a time per source and keeps only the last one
        // waiting, so parts refreshed together each need their own.
        source: target,
        // select: a panel's answer also carries its stylesheet and script tags; take the box.
        target: selector, swap: "outerHTML", select: selector,
        headers: { "X-Vigil-Refresh": part + ":" + (swapGeneration[selector] || 0) }
      }).then(answered, answered);
    }, delay || REFRESH_DELAY_MS);
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
        refreshPart(refresh.split(":")[0], EDITING_RETRY_MS);
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

  function refreshParts(parts) {
    (Array.isArray(parts) ? parts : []).forEach(function (part) { refreshPart(String(part)); });
  }

  // Files what the inbox holds; true when one of them was news to this page.
  function drainInbox(inbox) {
    var items = Array.prototype.slice.call(inbox.querySelectorAll("li[data-seq]"));
    var news = false;
    items.forEach(function (li) {
      if (fileEvent(li)) { news = true; }
    });
    inbox.textContent = "";
    return news;
  }

  function watchInbox() {
    var inbox = document.getElementById("timeline-inbox");
    if (!inbox || inbox.dataset.watched) { return; }
    inbox.dataset.watched = "1";
    new MutationObserver(function () {
      if (inbox.querySelector("li[data-seq]")) { drainInbox(inbox); }
    }).observe(inbox, { childList: true });
  }

  var streamBroughtNews = false; // did the stream's last events hold any this page lacked?

  // Only what the stream itself delivered moves the resume point: an action's answer can carry
  // newer events while older ones are still on their way through the stream.
  document.addEventListener("htmx:sseBeforeMessage", function (event) {
    var id = Number(event.detail && event.detail.lastEventId);
    if (id) { rememberSeq(id); }
    if (event.detail && event.detail.type === "refresh") {
      event.preventDefault(); // names of parts, not markup for the inbox
      // Events this page already had came in a person's own action's answer, which named
      // (and refreshed) their parts: refreshing them again would only churn them.
      if (streamBroughtNews) {
        var parts = [];
        try { parts = JSON.parse(event.detail.data); } catch (e) { parts = []; }
        refreshParts(parts);
      }
      streamBroughtNews = false;
    }
  });

  document.addEventListener("htmx:sseMessage", function (event) {
    if (!event.detail || event.detail.type !== "timeline") { return; }
    var inbox = document.getElementById("timeline-inbox");
    if (inbox && drainInbox(inbox)) { streamBroughtNews = true; }
  });

  // An action's own answer names the parts its events changed (HX-Trigger: vigil:refresh).
  document.addEventListener("vigil:refresh", function (event) {
    refreshParts(event.detail && event.detail.value);
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

  // --- clocks: worded by durations.js, as the server words them ----------------------------

  function tick() {
    var words = window.vigilDurations;
    var now = Date.now();
    document.querySelectorAll("[data-ago]").forEach(function (el) {
      el.textContent = words.ago((now - Date.parse(el.dataset.ago)) / 1000);
    });
    document.querySelectorAll("[data-duration-start]").forEach(function (el) {
      var end = el.dataset.durationEnd ? Date.parse(el.dataset.durationEnd) : now;
      el.textContent = words.duration((end - Date.parse(el.dataset.durationStart)) / 1000);
    });
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      var left = (Date.parse(el.dataset.countdown) - now) / 1000;
      el.textContent = left >= 0 ? "in " + words.duration(left) :
        words.duration(-left) + " ago (overdue)";
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
