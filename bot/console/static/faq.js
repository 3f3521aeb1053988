// FAQ pages: ask before a destructive button submits its form (data-confirm holds the question).
(() => {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    for (const button of document.querySelectorAll("button[data-confirm]")) {
      button.form.addEventListener("submit", (event) => {
        if (!window.confirm(button.dataset.confirm)) {
          event.preventDefault();
          event.stopImmediatePropagation();
        }
      }, { capture: true });
    }
  });
})();
