// The summary figures (live rooms, people watching, ...) refetch themselves after live
// pushes, at most once every few seconds however many pushes arrive.
(function () {
  var GAP_MS = 3000;
  var last = 0;
  var timer = null;
  function refresh() {
    timer = null;
    last = Date.now();
    if (document.getElementById("summary-figures")) {
      document.body.dispatchEvent(new CustomEvent("roomwatch:figures"));
    }
  }
  document.addEventListener("htmx:wsAfterMessage", function () {
    if (timer || !document.getElementById("summary-figures")) { return; }
    timer = setTimeout(refresh, Math.max(0, last + GAP_MS - Date.now()));
  });
})();
