/* The what-if panel: a slider shows its value and takes part in the form only once moved, so
 * untouched stages keep their learned win rate. HTMX posts the form; nothing is saved. */
(function () {
  "use strict";

  function start() {
    var form = document.getElementById("what-if-form");
    if (!form) { return; }
    form.addEventListener("input", function (event) {
      var input = event.target;
      if (!input.classList || !input.classList.contains("what-if-range")) { return; }
      input.name = input.getAttribute("data-name");
      var output = document.getElementById(input.getAttribute("data-output"));
      if (output) { output.textContent = input.value + "%"; }
    });
    form.addEventListener("reset", function () {
      window.setTimeout(function () {
        form.querySelectorAll(".what-if-range").forEach(function (input) {
          input.removeAttribute("name");
          var output = document.getElementById(input.getAttribute("data-output"));
          if (output) { output.textContent = input.value + "%"; }
        });
        var result = document.getElementById("what-if-result");
        if (result) { result.textContent = ""; }
      }, 0);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
