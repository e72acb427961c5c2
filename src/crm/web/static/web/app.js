/* Page behaviour of the CRM. No inline scripts or handlers exist anywhere (CSP script-src
 * 'self'): components are registered with Alpine.data (Alpine's CSP build) and the rest is
 * wired up here. */
(function () {
  "use strict";

  var RECORDS_CACHE = "crm-records-v1";

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  /* A toast at the bottom right; with `undo`, an Undo button that calls it. */
  function toast(message, undo, kind) {
    var template = document.getElementById("toast-template");
    var box = document.getElementById("toasts");
    if (!template || !box) { return; }
    var node = template.content.firstElementChild.cloneNode(true);
    node.querySelector(".toast-body").textContent = message;
    if (kind === "error") { node.classList.add("text-bg-danger"); }
    var button = node.querySelector(".toast-undo");
    if (undo) {
      button.hidden = false;
      button.addEventListener("click", function () { undo(); node.remove(); });
    }
    box.appendChild(node);
    if (window.bootstrap && window.bootstrap.Toast) {
      var t = window.bootstrap.Toast.getOrCreateInstance(node, { delay: undo ? 10000 : 5000 });
      node.classList.remove("show");
      t.show();
      node.addEventListener("hidden.bs.toast", function () { node.remove(); });
    }
  }

  window.CRM = { toast: toast, csrfToken: csrfToken };

  document.addEventListener("alpine:init", function () {
    /* Bulk selection on a list: select all, count, show the fields of the chosen action. */
    window.Alpine.data("bulkSelect", function () {
      return {
        count: 0,
        action: "",
        init: function () {
          var select = this.$root.querySelector("select[name=action]");
          this.action = select ? select.value : "";
          this.recount();
        },
        get none() { return this.count === 0; },
        get isOwner() { return this.action === "owner"; },
        get isTag() { return this.action === "tag"; },
        recount: function () {
          this.count = this.$root.querySelectorAll(".row-check:checked").length;
        },
        toggleAll: function (event) {
          var on = event.target.checked;
          this.$root.querySelectorAll(".row-check").forEach(function (box) { box.checked = on; });
          this.recount();
        }
      };
    });

    /* Record chooser: type a name or pinyin, pick from the server's list, fill a hidden id. */
    window.Alpine.data("picker", function () {
      return {
        lookup: function () {
          var self = this;
          var q = this.$refs.text.value.trim();
          if (!q) { this.$refs.value.value = ""; }
          var url = this.$root.dataset.url + "?q=" + encodeURIComponent(q);
          fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
            .then(function (r) { return r.ok ? r.text() : ""; })
            .then(function (html) {
              self.$refs.results.innerHTML = html;
              self.$refs.text.setAttribute("aria-expanded", html ? "true" : "false");
            });
        },
        choose: function (event) {
          var item = event.target.closest("[data-id]");
          if (!item) { return; }
          this.$refs.value.value = item.dataset.id;
          this.$refs.text.value = item.dataset.label;
          this.close();
          this.$refs.text.focus();
        },
        close: function () {
          this.$refs.results.innerHTML = "";
          this.$refs.text.setAttribute("aria-expanded", "false");
        },
        clear: function () {
          this.$refs.value.value = "";
          this.$refs.text.value = "";
          this.close();
        },
        focusFirst: function () {
          var first = this.$refs.results.querySelector("[data-id]");
          if (first) { first.focus(); }
        }
      };
    });
  });

  /* --- offline: a banner, read-only pages, saved records ------------------------------------- */

  function applyOffline() {
    var offline = !navigator.onLine || document.body.dataset.servedOffline === "1";
    var banner = document.getElementById("offline-banner");
    if (banner) { banner.hidden = !offline; }
    document.body.classList.toggle("is-offline", offline);
    document.querySelectorAll("form[method=post] :is(button, input, select, textarea)").forEach(function (el) {
      if (offline) {
        if (el.dataset.offlineDisabled === undefined) {
          el.dataset.offlineDisabled = el.disabled ? "1" : "0";
        }
        el.disabled = true;
      } else if (el.dataset.offlineDisabled === "0") {
        el.disabled = false;
        delete el.dataset.offlineDisabled;
      }
    });
  }

  function listSavedRecords() {
    var list = document.getElementById("saved-records");
    if (!list || !("caches" in window)) { return; }
    caches.open(RECORDS_CACHE).then(function (cache) {
      return cache.keys().then(function (requests) {
        return Promise.all(requests.map(function (request) {
          return cache.match(request).then(function (response) {
            var title = response && response.headers.get("X-Record-Title");
            return { url: request.url, title: title ? decodeURIComponent(title) : request.url };
          });
        }));
      });
    }).then(function (items) {
      items.reverse().forEach(function (item) {
        var li = document.createElement("li");
        var a = document.createElement("a");
        a.href = item.url;
        a.textContent = item.title;
        li.appendChild(a);
        list.appendChild(li);
      });
      document.getElementById("no-saved-records").hidden = items.length > 0;
    });
  }

  function forgetSavedRecords() {
    if (!("caches" in window)) { return; }
    caches.keys().then(function (keys) {
      keys.forEach(function (key) {
        if (key.indexOf("crm-records") === 0) { caches.delete(key); }
      });
    });
  }

  /* --- global search: keyboard and closing ---------------------------------------------------- */

  function wireSearch() {
    var input = document.getElementById("global-search");
    var results = document.getElementById("search-results");
    if (!input || !results) { return; }
    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown") {
        var first = results.querySelector("a");
        if (first) { event.preventDefault(); first.focus(); }
      } else if (event.key === "Escape") {
        results.innerHTML = "";
      }
    });
    results.addEventListener("keydown", function (event) {
      var links = Array.prototype.slice.call(results.querySelectorAll("a"));
      var i = links.indexOf(document.activeElement);
      if (event.key === "ArrowDown" && i < links.length - 1) { event.preventDefault(); links[i + 1].focus(); }
      if (event.key === "ArrowUp") { event.preventDefault(); (i > 0 ? links[i - 1] : input).focus(); }
      if (event.key === "Escape") { results.innerHTML = ""; input.focus(); }
    });
    document.addEventListener("click", function (event) {
      if (!event.target.closest(".global-search")) { results.innerHTML = ""; }
    });
  }

  /* --- HTMX: errors, focus after inline edits -------------------------------------------------- */

  function wireHtmx() {
    document.body.addEventListener("htmx:responseError", function (event) {
      var status = event.detail.xhr ? event.detail.xhr.status : 0;
      toast((document.body.dataset.msgError || "Error") + " (" + status + ")", null, "error");
    });
    document.body.addEventListener("htmx:sendError", function () {
      applyOffline();
    });
    document.body.addEventListener("htmx:afterSwap", function (event) {
      var target = event.detail.target;
      if (!target || !target.closest) { return; }
      var editor = target.matches && target.matches(".inline-edit-form") ? target : null;
      if (editor) {
        var field = editor.querySelector("input, select, textarea");
        if (field) { field.focus(); }
      } else if (target.matches && target.matches(".field-value")) {
        var button = target.querySelector(".inline-edit");
        if (button) { button.focus(); }
      }
    });
  }

  function collapseOnPhone() {
    if (!window.matchMedia("(max-width: 767.98px)").matches) { return; }
    document.querySelectorAll("details[data-collapse-on-phone]").forEach(function (panel) {
      if (!panel.hasAttribute("data-keep-open")) { panel.open = false; }
    });
  }

  function start() {
    collapseOnPhone();
    applyOffline();
    window.addEventListener("online", applyOffline);
    window.addEventListener("offline", applyOffline);
    wireSearch();
    wireHtmx();
    if (document.body.dataset.offlinePage) { listSavedRecords(); }
    if (document.body.dataset.clearOffline) { forgetSavedRecords(); }
    document.addEventListener("htmx:afterSettle", applyOffline);
    if ("serviceWorker" in navigator && document.body.dataset.swUrl) {
      navigator.serviceWorker.register(document.body.dataset.swUrl, { scope: "/" }).catch(function () {});
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
