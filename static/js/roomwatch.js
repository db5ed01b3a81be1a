// Connection indicator for the htmx websocket: live / reconnecting / offline.
(function () {
  function setState(state) {
    var el = document.getElementById("connection");
    if (el) { el.dataset.state = state; el.textContent = state; }
  }
  var wasOpen = false;
  document.addEventListener("htmx:wsOpen", function () {
    setState("live");
    // After a reconnect, refresh what was missed while the socket was down.
    if (wasOpen) { document.body.dispatchEvent(new CustomEvent("roomwatch:resync")); }
    wasOpen = true;
  });
  document.addEventListener("htmx:wsClose", function () { setState(navigator.onLine ? "reconnecting" : "offline"); });
  document.addEventListener("htmx:wsError", function () { setState("reconnecting"); });
  window.addEventListener("offline", function () { setState("offline"); });
  document.addEventListener("DOMContentLoaded", function () {
    if (!document.querySelector("[ws-connect]")) { setState("n/a"); }
  });
})();

// Pushed fragments for rooms this page does not show yet (a new room, or a room that
// became one of the busiest live rooms) find no element to replace: refresh the list
// or the wall once, shortly, so bursts of new rooms cost one request.
(function () {
  var timers = {};
  function refreshSoon(id, delay) {
    if (timers[id]) { return; }
    timers[id] = setTimeout(function () {
      delete timers[id];
      var el = document.getElementById(id);
      if (el && window.htmx) { window.htmx.trigger(el, "roomwatch:refresh"); }
    }, delay);
  }
  document.addEventListener("htmx:oobErrorNoTarget", function (event) {
    var el = event.detail && event.detail.content;
    if (!el || !el.classList) { return; }
    if (el.classList.contains("room-row")) {
      var rows = document.getElementById("room-rows");
      if (rows && rows.dataset.liveInsert === "true") { refreshSoon("room-list", 500); }
    } else if (el.classList.contains("wall-tile") && el.dataset.status === "live") {
      refreshSoon("wall-grid", 1500);
    }
  });
})();
