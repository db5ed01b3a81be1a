// Connection indicator for the htmx websocket: live / reconnecting / offline.
(function () {
  function setState(state) {
    var el = document.getElementById("connection");
    if (el) { el.dataset.state = state; el.textContent = state; }
  }
  var wasOpen = false;
  // Reconnect within 10 s at most (htmx's default backoff grows to a minute), with
  // jitter so a restarted server is not hit by every page at once.
  document.addEventListener("DOMContentLoaded", function () {
    if (window.htmx) {
      window.htmx.config.wsReconnectDelay = function (retryCount) {
        var ceiling = Math.min(1000 * Math.pow(2, retryCount), 10000);
        return ceiling / 2 + Math.random() * ceiling / 2;
      };
    }
  });
  document.addEventListener("htmx:wsOpen", function () {
    failedRetries = 0;
    refused = false;
    var el = document.getElementById("connection");
    if (el) { el.title = "Live updates"; }
    setState("live");
    // After a reconnect, refresh what was missed while the socket was down.
    if (wasOpen) { document.body.dispatchEvent(new CustomEvent("roomwatch:resync")); }
    wasOpen = true;
  });
  // A socket the server refuses (signed out, session expired, no longer staff) fails
  // like a network error (1006), so after each failed retry ask the page itself:
  // a redirect to sign-in or a 403 means reconnecting cannot work until signed in.
  var failedRetries = 0;
  var refused = false;
  function checkSignedIn() {
    fetch(window.location.pathname, { headers: { "HX-Request": "true" }, redirect: "manual", credentials: "same-origin" })
      .then(function (response) {
        if (response.type === "opaqueredirect" || response.status === 401 || response.status === 403) {
          refused = true;
          setState("offline");
          var el = document.getElementById("connection");
          if (el) { el.title = "Live updates stopped: sign in again (then this page reconnects by itself)"; }
        }
      })
      .catch(function () { /* the server is down: keep saying reconnecting */ });
  }
  // The server closes with 4012 when the account changed (role, deactivation, sign-out):
  // reconnect at once, so the new socket is checked against the account as it is now.
  var CLOSE_RECONNECT = 4012;
  document.addEventListener("htmx:wsClose", function (event) {
    var detail = event.detail || {};
    if (detail.event && detail.event.code === CLOSE_RECONNECT && detail.socketWrapper) {
      setState("reconnecting");
      setTimeout(detail.socketWrapper.reconnect, 200 + Math.random() * 800);
      return;
    }
    if (refused) { return; }
    setState(navigator.onLine ? "reconnecting" : "offline");
    failedRetries += 1;
    if (failedRetries >= 2) { checkSignedIn(); }
  });
  document.addEventListener("htmx:wsError", function () { setState("reconnecting"); });
  window.addEventListener("offline", function () { setState("offline"); });
  document.addEventListener("DOMContentLoaded", function () {
    // Pages without live updates say nothing about them; live pages show the state.
    var el = document.getElementById("connection");
    if (el && document.querySelector("[ws-connect]")) { el.hidden = false; }
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

// "Live for" durations tick in the page between pushes. Each element carries when
// the room went live and when the server rendered it (both epoch seconds), so the
// browser's own clock only measures the time since it received the element.
(function () {
  var UNITS = [
    ["year", 365 * 86400], ["month", 30 * 86400], ["week", 7 * 86400],
    ["day", 86400], ["hour", 3600], ["minute", 60]
  ];
  var NBSP = "\u00a0";
  // The same words as the |live_for filter: the two largest adjacent units, or "just now".
  function timesince(seconds) {
    var parts = [];
    var rest = Math.max(0, Math.floor(seconds));
    for (var i = 0; i < UNITS.length && parts.length < 2; i++) {
      var count = Math.floor(rest / UNITS[i][1]);
      if (parts.length && !count) { break; }
      if (count) {
        parts.push(count + NBSP + UNITS[i][0] + (count === 1 ? "" : "s"));
        rest -= count * UNITS[i][1];
      }
    }
    return parts.length ? parts.join(", ") : "just now";
  }
  // Note when each element arrived (page load, htmx swap or pushed fragment).
  function mark() {
    var now = Date.now();
    var els = document.querySelectorAll("[data-live-since]");
    for (var i = 0; i < els.length; i++) {
      if (!els[i].__seenAt) { els[i].__seenAt = now; }
    }
    return els;
  }
  function tick() {
    var now = Date.now();
    var els = mark();
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      var since = Number(el.dataset.liveSince);
      var rendered = Number(el.dataset.renderedAt);
      if (!since || !rendered) { continue; }
      var text = timesince(rendered - since + (now - el.__seenAt) / 1000);
      if (el.textContent !== text) { el.textContent = text; }
    }
  }
  document.addEventListener("DOMContentLoaded", mark);
  document.addEventListener("htmx:afterSettle", mark);
  document.addEventListener("htmx:wsAfterMessage", mark);
  setInterval(tick, 15000);
})();

// Pushed fragments keep the page's lists true. The room list re-sorts a pushed row by
// the list's own sort and drops rooms that left its status filter (the same rules the
// server applies, from the row's data- attributes; a refresh then fixes the count).
// Lists pushed into keep no more rows than the page shows.
(function () {
  function num(row, key) { var v = row.dataset[key]; return v === "" || v === undefined ? null : Number(v); }
  var SORTS = {
    busiest: function (a, b) {
      return (num(b, "participants") - num(a, "participants")) ||
        (num(b, "publishers") - num(a, "publishers")) ||
        (num(b, "created") - num(a, "created")) || (num(b, "pk") - num(a, "pk"));
    },
    newest: function (a, b) { return (num(b, "created") - num(a, "created")) || (num(b, "pk") - num(a, "pk")); },
    name: function (a, b) {
      var an = a.dataset.name || "", bn = b.dataset.name || "";
      if (an !== bn) { return an < bn ? -1 : 1; }
      return (num(b, "created") - num(a, "created")) || (num(b, "pk") - num(a, "pk"));
    },
    longest: function (a, b) {
      var al = num(a, "liveFrom"), bl = num(b, "liveFrom");
      if (al !== bl) {
        if (al === null) { return 1; }
        if (bl === null) { return -1; }
        return al - bl;
      }
      return num(b, "pk") - num(a, "pk");
    }
  };
  var refreshTimer = null;
  function refreshListSoon() {
    if (refreshTimer) { return; }
    refreshTimer = setTimeout(function () {
      refreshTimer = null;
      var list = document.getElementById("room-list");
      if (list && window.htmx) { window.htmx.trigger(list, "roomwatch:refresh"); }
    }, 1000);
  }
  function placeRoomRow(row) {
    var body = row.parentElement;
    if (!body || body.id !== "room-rows") { return; }
    var statuses = (body.dataset.statuses || "").split(",").filter(Boolean);
    if (statuses.length && statuses.indexOf(row.dataset.status) < 0) {
      row.remove();
      refreshListSoon();
      return;
    }
    var compare = SORTS[body.dataset.sort] || SORTS.busiest;
    var rows = Array.prototype.filter.call(body.children, function (r) { return r !== row && r.classList.contains("room-row"); });
    var before = null;
    for (var i = 0; i < rows.length; i++) {
      if (compare(row, rows[i]) < 0) { before = rows[i]; break; }
    }
    if (before !== row.nextElementSibling || (!before && body.lastElementChild !== row)) {
      body.insertBefore(row, before);
    }
  }
  // "Left" and the timeline get pushed entries at the top: drop the oldest at the bottom.
  function trim(list) {
    var limit = Number(list.dataset.limit || 0);
    if (!limit) { return; }
    var items = Array.prototype.filter.call(list.children, function (el) { return !el.classList.contains("empty-row"); });
    for (var i = limit; i < items.length; i++) { items[i].remove(); }
  }
  // A participant row pushed into "in the room" or "left" replaces its older copy.
  function dropOlderCopies(row) {
    var copies = document.querySelectorAll('[id="' + row.id + '"]');
    for (var i = 0; i < copies.length; i++) {
      if (copies[i] !== row) { copies[i].remove(); }
    }
  }
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    var el = event.target;
    if (el && el.classList && el.classList.contains("room-row")) { placeRoomRow(el); }
  });
  // Rows appended or prepended by a push are announced with htmx:load as they settle.
  document.addEventListener("htmx:load", function (event) {
    var el = event.target;
    if (el && el.classList && el.classList.contains("participant-row")) { dropOlderCopies(el); }
  });
  document.addEventListener("htmx:wsAfterMessage", function () {
    var lists = document.querySelectorAll("#departed-rows, #timeline-list");
    for (var i = 0; i < lists.length; i++) { trim(lists[i]); }
  });
})();

// A refused claim, release or action on the queue answers 4xx with the reason in words:
// show it in the page's flash (no inline script: the CSP allows none).
document.addEventListener("htmx:responseError", function (event) {
  var flash = document.getElementById("queue-flash");
  if (!flash) { return; }
  flash.textContent = event.detail.xhr.responseText || "That did not work; reload and try again.";
  flash.hidden = false;
});

// Forms that ask before a destructive step carry the question in data-confirm
// (no inline onsubmit handler: the CSP allows none).
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form && form.dataset ? form.dataset.confirm : null;
  if (question && !window.confirm(question)) { event.preventDefault(); }
}, true);
