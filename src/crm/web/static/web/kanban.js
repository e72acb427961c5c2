/* The opportunity kanban: drag a card (mouse or touch) or pick a stage in its menu; the move
 * goes through the server (permission re-checked, stage change recorded), the column totals
 * follow, and a toast offers to undo. A refused move puts the card back. */
(function () {
  "use strict";

  var board = document.getElementById("kanban");
  if (!board || !board.dataset.canWrite) { return; }

  function column(stageId) {
    return board.querySelector('.kanban-cards[data-stage-id="' + stageId + '"]');
  }

  function applyTotals(totals) {
    Object.keys(totals).forEach(function (stageId) {
      var section = board.querySelector('.kanban-column[data-stage-id="' + stageId + '"]');
      if (!section) { return; }
      section.querySelector("[data-total-count]").textContent = totals[stageId].count;
      section.querySelector("[data-total-amount]").textContent = totals[stageId].amount;
    });
  }

  function placeCard(card, stageId) {
    var target = column(stageId);
    if (target && card.parentElement !== target) { target.insertBefore(card, target.firstChild); }
  }

  function move(card, stageId, fromStageId, isUndo) {
    var body = new URLSearchParams();
    body.set("stage_id", stageId);
    body.set("filters", board.dataset.filters || "");
    card.setAttribute("aria-busy", "true");
    return fetch(card.dataset.moveUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "X-CSRFToken": window.CRM.csrfToken(),
        "Accept": "application/json",
        "Content-Type": "application/x-www-form-urlencoded"
      },
      body: body.toString()
    }).then(function (response) {
      return response.json().catch(function () { return { ok: false }; });
    }).then(function (data) {
      card.removeAttribute("aria-busy");
      if (!data.ok) {
        placeCard(card, fromStageId);
        window.CRM.toast(data.message || board.dataset.msgError, null, "error");
        return;
      }
      placeCard(card, data.stage_id);
      var probability = card.querySelector(".card-probability");
      if (probability) { probability.textContent = data.probability + "%"; }
      applyTotals(data.totals);
      if (isUndo) {
        window.CRM.toast(data.message, null);
      } else {
        window.CRM.toast(data.message, function () {
          move(card, data.from_stage_id, data.stage_id, true);
        });
      }
    }).catch(function () {
      card.removeAttribute("aria-busy");
      placeCard(card, fromStageId);
      window.CRM.toast(board.dataset.msgOffline, null, "error");
    });
  }

  /* Keyboard and touch without dragging: a card's "Move" button opens one shared menu of stages. */
  function wireMoveMenu() {
    var menu = document.getElementById("kanban-move-menu");
    if (!menu) { return; }
    var current = null;

    function close(refocus) {
      menu.hidden = true;
      if (current) {
        current.querySelector(".card-move-button").setAttribute("aria-expanded", "false");
        if (refocus) { current.querySelector(".card-move-button").focus(); }
      }
      current = null;
    }

    board.addEventListener("click", function (event) {
      var button = event.target.closest(".card-move-button");
      if (!button) { return; }
      var card = button.closest(".kanban-card");
      if (current === card && !menu.hidden) { close(true); return; }
      current = card;
      var from = card.parentElement.dataset.stageId;
      menu.querySelectorAll("[data-stage-id]").forEach(function (item) {
        item.disabled = item.dataset.stageId === from;
      });
      button.setAttribute("aria-expanded", "true");
      var box = button.getBoundingClientRect();
      menu.hidden = false;
      menu.style.top = (window.scrollY + box.bottom + 4) + "px";
      menu.style.left = Math.min(window.scrollX + box.left, window.scrollX + document.documentElement.clientWidth - menu.offsetWidth - 8) + "px";
      var first = menu.querySelector("[data-stage-id]:not([disabled])");
      if (first) { first.focus(); }
    });

    menu.addEventListener("click", function (event) {
      var item = event.target.closest("[data-stage-id]");
      if (!item || !current) { return; }
      var card = current;
      var from = card.parentElement.dataset.stageId;
      close(true);
      placeCard(card, item.dataset.stageId);
      move(card, item.dataset.stageId, from, false);
    });

    menu.addEventListener("keydown", function (event) {
      var items = Array.prototype.slice.call(menu.querySelectorAll("[data-stage-id]:not([disabled])"));
      var i = items.indexOf(document.activeElement);
      if (event.key === "Escape") { event.preventDefault(); close(true); }
      if (event.key === "ArrowDown") { event.preventDefault(); items[(i + 1) % items.length].focus(); }
      if (event.key === "ArrowUp") { event.preventDefault(); items[(i - 1 + items.length) % items.length].focus(); }
    });

    document.addEventListener("click", function (event) {
      if (!menu.hidden && !event.target.closest("#kanban-move-menu, .card-move-button")) { close(false); }
    });
  }

  function start() {
    board.querySelectorAll(".kanban-cards").forEach(function (list) {
      window.Sortable.create(list, {
        group: "kanban",
        animation: 120,
        forceFallback: true,       // pointer events: the same on mouse and touch
        fallbackOnBody: true,
        delay: 150,
        delayOnTouchOnly: true,    // a short press on a phone, so the page still scrolls
        touchStartThreshold: 4,
        filter: "a, button",
        preventOnFilter: false,
        scroll: true,
        bubbleScroll: true,
        onEnd: function (event) {
          var from = event.from.dataset.stageId;
          var to = event.to.dataset.stageId;
          if (from !== to) { move(event.item, to, from, false); }
        }
      });
    });
    wireMoveMenu();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
