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
