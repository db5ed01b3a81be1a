// Keyboard-first triage. The shortcuts work on every page with rows (room list, room
// page, wall, audit log, bans) and are listed by "?":
//
//   /        focus the search or the first filter
//   j / k    next / previous row (room, participant, wall tile, audit entry, ban)
//   Enter    open the row (its room page; a participant's action menu)
//   w m x b  warn, mute, kick, ban the row's participant or room: opens the dialog
//            with the focus on its reason
//   Esc      close the dialog, the menu or this overlay
//   ?        show the shortcuts
//
// Keys typed into a field, or with Ctrl/Alt/Meta, are left alone. Rows replaced by a
// live push keep the selection (found again by their id).
(function () {
  var ROWS = [
    "tr.room-row", "tr.participant-row", "article.tile", "tr.audit-row", "#ban-table tr[data-state]"
  ].join(", ");
  var ACTIONS = { w: ["warn", "warn-room"], m: ["mute"], x: ["kick"], b: ["ban"] };
  var currentId = null;
  var currentIndex = -1;

  function typing(el) {
    if (!el || el === document.body) { return false; }
    if (el.isContentEditable) { return true; }
    var tag = el.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") { return true; }
    if (tag === "INPUT") {
      var type = (el.getAttribute("type") || "text").toLowerCase();
      return ["checkbox", "radio", "button", "submit", "reset"].indexOf(type) === -1;
    }
    return false;
  }

  function visible(el) { return !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length); }

  function rows() {
    return Array.prototype.filter.call(document.querySelectorAll(ROWS), visible);
  }

  function current() {
    if (currentId) {
      var byId = document.getElementById(currentId);
      if (byId && visible(byId)) { return byId; }
    }
    var marked = document.querySelector(".kb-current");
    return marked && visible(marked) ? marked : null;
  }

  function select(row, focus) {
    document.querySelectorAll(".kb-current").forEach(function (el) { el.classList.remove("kb-current"); });
    if (!row) { currentId = null; currentIndex = -1; return; }
    row.classList.add("kb-current");
    if (!row.hasAttribute("tabindex")) { row.setAttribute("tabindex", "-1"); }
    currentId = row.id || null;
    currentIndex = rows().indexOf(row);
    if (focus !== false) {
      row.focus({ preventScroll: true });
      row.scrollIntoView({ block: "nearest" });
    }
  }

  function move(step) {
    var all = rows();
    if (!all.length) { return; }
    var row = current();
    var index = row ? all.indexOf(row) : -1;
    if (index === -1 && currentIndex >= 0) { index = Math.min(currentIndex, all.length - 1) - (step > 0 ? 1 : 0); }
    var next = index === -1 ? (step > 0 ? 0 : all.length - 1) : Math.max(0, Math.min(all.length - 1, index + step));
    select(all[next]);
  }

  function openRow(row) {
    var menu = row.querySelector("details.menu");
    var link = row.querySelector("a[href]:not([data-action]):not(.menu a)");
    if (link && !row.matches("tr.participant-row")) { link.click(); return; }
    if (menu) {
      menu.open = true;
      var first = menu.querySelector(".menu-items a");
      (first || menu.querySelector("summary")).focus();
    } else if (link) { link.click(); }
  }

  function act(key) {
    var names = ACTIONS[key];
    var row = current();
    var scopes = row ? [row] : [];
    // With no row chosen, the room page's own actions (warn the room, ban).
    var roomActions = document.querySelectorAll("[data-testid=room-actions]");
    if (!row && roomActions.length === 1) { scopes.push(roomActions[0]); }
    for (var s = 0; s < scopes.length; s++) {
      for (var i = 0; i < names.length; i++) {
        var link = scopes[s].querySelector('[data-action="' + names[i] + '"]');
        if (link) { link.click(); return true; }
      }
    }
    return false;
  }

  function focusSearch() {
    var field = document.querySelector("[data-kb-search]") ||
      document.querySelector("main input[type=search]") ||
      document.querySelector("main form[role=search] input, main form[role=search] select");
    if (field) { field.focus(); if (field.select) { field.select(); } return true; }
    return false;
  }

  function showHelp() {
    var help = document.getElementById("shortcuts");
    if (help && !help.open) { help.showModal(); }
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) { return; }
    var target = event.target;
    // Enter on a dialog's reason list sends the form (the reason is all it needs).
    if (event.key === "Enter" && target.tagName === "SELECT" && target.closest("dialog form")) {
      event.preventDefault();
      target.closest("form").requestSubmit();
      return;
    }
    if (typing(target)) {
      if (event.key === "Escape" && target.closest("form[role=search]")) { target.blur(); }
      return;
    }
    if (document.querySelector("dialog[open]")) { return; }  // the dialog has the keys
    var key = event.key;
    if (key === "?") { event.preventDefault(); showHelp(); return; }
    if (key === "/") { if (focusSearch()) { event.preventDefault(); } return; }
    if (key === "j" || key === "ArrowDown" && target.matches && target.matches(ROWS)) { event.preventDefault(); move(1); return; }
    if (key === "k" || key === "ArrowUp" && target.matches && target.matches(ROWS)) { event.preventDefault(); move(-1); return; }
    if (key === "Enter") {
      var row = current();
      if (row && (target === row || target === document.body)) { event.preventDefault(); openRow(row); }
      return;
    }
    if (ACTIONS[key]) {
      if (act(key)) { event.preventDefault(); }
    }
  });

  // A click on a row makes it the keyboard's row too.
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-shortcuts-open]")) { showHelp(); return; }
    var row = event.target.closest && event.target.closest(ROWS);
    if (row) { select(row, false); }
  });

  // Pushed rows replace the old elements: mark the chosen one again.
  function remark() {
    if (!currentId) { return; }
    var row = document.getElementById(currentId);
    if (!row || row.classList.contains("kb-current")) { return; }
    var hadFocus = document.activeElement === document.body;
    row.classList.add("kb-current");
    row.setAttribute("tabindex", "-1");
    if (hadFocus && !document.querySelector("dialog[open]")) { row.focus({ preventScroll: true }); }
  }
  document.addEventListener("htmx:afterSettle", remark);
  document.addEventListener("htmx:oobAfterSwap", remark);
  document.addEventListener("htmx:wsAfterMessage", remark);
})();
