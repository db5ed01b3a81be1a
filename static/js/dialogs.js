// Moderator dialogs (action, ban, result) and row menus, without inline handlers:
// everything is wired here from data- attributes, so a strict Content-Security-Policy
// holds.
//
// - A <dialog data-dialog> that arrives (page load, htmx swap) opens as a modal: the
//   page behind is dimmed and inert, focus moves inside (to [autofocus]), Esc closes.
// - A closed dialog is removed, and focus returns to what opened it.
// - [data-dialog-close] (Cancel, Close) closes its dialog instead of following its link.
// - Answers 4xx/5xx aimed at a dialog are swapped in (they carry the error in words).
// - Opening a dialog first removes any other one; choosing a menu item closes the menu.
// - [data-shown-by=ID][data-shown-value=V] shows only while the control #ID has value V.
(function () {
  var opener = null;

  function openDialogs(root) {
    var scope = root && root.querySelectorAll ? root : document;
    var found = [];
    if (scope.matches && scope.matches("dialog[data-dialog]")) { found.push(scope); }
    Array.prototype.push.apply(found, scope.querySelectorAll("dialog[data-dialog]"));
    found.forEach(function (dialog) {
      if (dialog.matches(":modal")) { return; }
      if (dialog.open) { dialog.close(); }
      if (!dialog.isConnected) { return; }
      dialog.showModal();
      var first = dialog.querySelector("[autofocus]") || dialog.querySelector("[data-autofocus]");
      if (first) { first.focus(); }
      syncShown(dialog);
    });
  }

  function syncShown(root) {
    (root || document).querySelectorAll("[data-shown-by]").forEach(function (el) {
      var control = document.getElementById(el.dataset.shownBy);
      if (control) { el.hidden = control.value !== el.dataset.shownValue; }
    });
  }

  document.addEventListener("change", function (event) {
    if (event.target && event.target.id) { syncShown(document); }
  });

  // A closed dialog (Esc, Cancel, Close) leaves the page; focus goes back to its opener.
  document.addEventListener("close", function (event) {
    var dialog = event.target;
    if (!dialog.matches || !dialog.matches("dialog[data-dialog]")) { return; }
    if (dialog.dataset.replacing === "true") { return; }
    if (dialog.open) { return; }  // the close() that preceded showModal(), fired late
    dialog.remove();
    if (opener && opener.isConnected) { opener.focus(); }
    else {
      var row = document.querySelector(".kb-current");
      if (row) { row.focus(); }
    }
  }, true);

  document.addEventListener("click", function (event) {
    var close = event.target.closest && event.target.closest("[data-dialog-close]");
    if (close) {
      var dialog = close.closest("dialog");
      if (dialog) { event.preventDefault(); dialog.close(); }
      return;
    }
    // Clicking outside every open menu closes them.
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) { menu.open = false; }
    });
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    var menu = document.querySelector("details.menu[open]");
    if (menu && !document.querySelector("dialog[open]")) {
      menu.open = false;
      var summary = menu.querySelector("summary");
      if (summary) { summary.focus(); }
      event.preventDefault();
    }
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail && event.detail.elt;
    if (!elt || !elt.closest || !elt.closest("[data-opens-dialog]")) { return; }
    // Focus goes back where it was: the row (keyboard), the button, or the menu's button.
    var from = document.activeElement && document.activeElement !== document.body ? document.activeElement : elt;
    var fromMenu = from.closest && from.closest("details.menu");
    opener = fromMenu ? fromMenu.querySelector("summary") : from;
    var menu = elt.closest("details.menu");
    if (menu) { menu.open = false; }
    document.querySelectorAll("dialog[data-dialog]").forEach(function (old) {
      old.dataset.replacing = "true";
      if (old.open) { old.close(); }
      old.remove();
    });
  });

  // The dialogs answer refusals with the form again and the reason in words: show it.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    var status = detail.xhr ? detail.xhr.status : 0;
    if (status < 400 || status >= 600) { return; }
    var elt = detail.requestConfig && detail.requestConfig.elt;
    var inDialog = elt && elt.closest && (elt.closest("dialog[data-dialog]") || elt.closest("[data-opens-dialog]"));
    if (inDialog) {
      detail.shouldSwap = true;
      detail.isError = false;
    }
  });

  // The old dialog is swapped out by its answer: do not treat that as closing.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (target && target.matches && target.matches("dialog[data-dialog]")) {
      target.dataset.replacing = "true";
    }
  });

  document.addEventListener("htmx:load", function (event) { openDialogs(event.detail.elt); });
  document.addEventListener("DOMContentLoaded", function () { openDialogs(document); syncShown(document); });
})();
