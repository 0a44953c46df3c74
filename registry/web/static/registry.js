// Progressive enhancement only: every page works without this file.
// A "Copy" button after each block marked data-copy (install lines, commands).
(function () {
  "use strict";
  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
  document.querySelectorAll("[data-copy]").forEach(function (block) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "copy";
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy " + block.getAttribute("data-copy"));
    button.addEventListener("click", function () {
      var done = function () {
        button.textContent = "Copied";
        window.setTimeout(function () { button.textContent = "Copy"; }, 1500);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(block.textContent.trim()).then(done, function () { selectText(block); });
      } else {
        selectText(block);
      }
    });
    block.insertAdjacentElement("afterend", button);
  });
})();
