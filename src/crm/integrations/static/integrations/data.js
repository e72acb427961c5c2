/* Pages of getting data in and out. The merge screen's "keep all left / right" buttons tick every
 * radio of one side; the upload form lists only the templates of the chosen record type. */
(function () {
  "use strict";

  function pickSide(event) {
    var side = event.currentTarget.getAttribute("data-pick");
    var radios = document.querySelectorAll("input[type=radio][value=" + side + "]");
    Array.prototype.forEach.call(radios, function (radio) { radio.checked = true; });
  }

  function filterTemplates() {
    var target = document.getElementById("target");
    var select = document.getElementById("template_id");
    if (!target || !select) { return; }
    Array.prototype.forEach.call(select.options, function (option) {
      var own = option.getAttribute("data-target");
      option.hidden = Boolean(own) && own !== target.value;
      if (option.hidden && option.selected) { select.value = ""; }
    });
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-pick]"), function (button) {
      button.addEventListener("click", pickSide);
    });
    var target = document.getElementById("target");
    if (target) {
      target.addEventListener("change", filterTemplates);
      filterTemplates();
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
