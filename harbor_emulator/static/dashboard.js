/* Harbor emulator dashboard: copy buttons. No build step, no dependency. */
(function () {
  "use strict";

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain http on a non-localhost name is not a secure context: the old way still works.
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    try {
      document.execCommand("copy");
    } finally {
      document.body.removeChild(area);
    }
    return Promise.resolve();
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button.copy-btn");
    if (!button) return;
    var text = button.getAttribute("data-copy");
    var target = button.getAttribute("data-copy-target");
    if (target) {
      var source = document.querySelector(target);
      text = source ? (source.value !== undefined && source.tagName !== "PRE" ? source.value : source.textContent) : "";
    }
    copyText(text || "").then(function () {
      button.textContent = "Copied";
      button.setAttribute("data-copied", "true");
      setTimeout(function () { button.textContent = "Copy"; button.removeAttribute("data-copied"); }, 1500);
    });
  });
})();

/* "Copy as curl" against another URL: the command's last line is the URL, shell-quoted. */
(function () {
  "use strict";
  function shellQuote(text) {
    return /^[A-Za-z0-9_@%+=:,.\/-]+$/.test(text) ? text : "'" + text.replace(/'/g, "'\"'\"'") + "'";
  }
  document.addEventListener("input", function (event) {
    var input = event.target;
    if (!input.classList || !input.classList.contains("curl-url")) return;
    var pre = document.getElementById(input.getAttribute("data-curl-for"));
    if (!pre) return;
    var lines = pre.textContent.split("\n");
    lines[lines.length - 1] = "  " + shellQuote(input.value);
    pre.textContent = lines.join("\n");
  });
})();

/* A polled region is left alone while the user works in it: a section they opened, or a
   field with the focus. htmx's trigger filter asks this before each poll. */
window.harborHold = function (region) {
  if (region.querySelector("details[open]:not([data-default-open])")) return true;
  var active = document.activeElement;
  return !!active && region.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName);
};

/* "/" focuses the search box from anywhere but a field, as on GitHub. */
document.addEventListener("keydown", function (event) {
  if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
  var active = document.activeElement;
  if (active && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName)) return;
  var box = document.getElementById("search");
  if (!box) return;
  event.preventDefault();
  box.focus();
});

/* Live updates: server-sent events from /live say that a delivery or attempt was added;
   the polled regions then fetch their fragment at once. Without EventSource, or while the
   stream is down, the regions poll every 2 s as before. Nothing is swapped while the user
   works in a region (harborHold). Rows and attempts that arrive after the page loaded
   carry a "new" marker until the page is reloaded. */
(function () {
  "use strict";
  var body = document.body;
  var state = document.getElementById("live-state");
  window.harborLive = false;
  window.harborPush = function (region) { return !window.harborHold(region); };
  window.harborPoll = function (region) { return !window.harborLive && !window.harborHold(region); };

  function setState(text) { if (state) state.textContent = text; }

  var seen = new Set();
  var fresh = new Set();
  function liveKeys() { return document.querySelectorAll("[data-live-key]"); }
  liveKeys().forEach(function (el) { seen.add(el.getAttribute("data-live-key")); });

  function mark() {
    liveKeys().forEach(function (el) {
      var key = el.getAttribute("data-live-key");
      if (!seen.has(key)) { seen.add(key); fresh.add(key); }
      if (fresh.has(key) && !el.classList.contains("is-new")) {
        el.classList.add("is-new");
        var badge = document.createElement("span");
        badge.className = "new-marker";
        badge.setAttribute("data-testid", "new-marker");
        badge.textContent = "new";
        var holder = el.querySelector("td, header") || el;
        holder.insertBefore(badge, holder.firstChild);
      }
    });
  }
  document.addEventListener("htmx:afterSettle", mark);

  if (!document.querySelector("[hx-trigger*='harbor-change']")) return;  // nothing to refresh
  setState("polling");
  // A page rendered by a form post carries no marker: it polls.
  if (!body.hasAttribute("data-live-marker") || !window.EventSource) return;
  var source = new EventSource("/live?since=" + encodeURIComponent(body.getAttribute("data-live-marker")));
  source.addEventListener("open", function () { window.harborLive = true; setState("live"); });
  source.addEventListener("change", function () {
    body.dispatchEvent(new CustomEvent("harbor-change"));
  });
  source.addEventListener("error", function () {
    // A stream ends every few seconds and reconnects by itself; if it can't, poll.
    window.harborLive = false;
    setState(source.readyState === EventSource.CLOSED ? "polling" : "reconnecting");
  });
})();

/* A table or box that scrolls sideways (on a narrow screen) must be reachable by keyboard
   to be scrolled without a mouse (WCAG 2.1.1): it takes the focus. */
(function () {
  "use strict";
  function focusable() {
    document.querySelectorAll("table, .scroll").forEach(function (el) {
      if (el.scrollWidth > el.clientWidth + 1) {
        if (!el.hasAttribute("tabindex")) el.setAttribute("tabindex", "0");
      } else if (el.getAttribute("tabindex") === "0") {
        el.removeAttribute("tabindex");
      }
    });
  }
  focusable();
  window.addEventListener("resize", focusable);
  document.addEventListener("htmx:afterSettle", focusable);
})();
