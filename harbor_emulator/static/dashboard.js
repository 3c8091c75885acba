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
