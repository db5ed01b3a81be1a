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
