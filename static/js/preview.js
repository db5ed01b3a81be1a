// Live preview: play a room with the official livekit-client SDK as a hidden,
// subscribe-only participant. Loaded only by pages with a preview
// (templates/monitoring/_preview.html); configuration comes from data- attributes.
//
// States, in words: connecting, live, nothing published, LiveKit refused the token,
// LiveKit unreachable, media could not connect, and "connected, no media" when
// signalling works but no media flows (the simulator; or media blocked on the way).
(function () {
  "use strict";

  var STATE_WORDS = {
    idle: "not watching",
    connecting: "connecting",
    live: "live",
    nothing: "nothing published",
    refused: "LiveKit refused the token",
    unreachable: "LiveKit unreachable",
    media: "media could not connect",
    nomedia: "connected, no media",
    forbidden: "the console refused to let you watch",
    ended: "disconnected",
    busy: "too many previews playing",
  };
  // The SDK fails a connection whose media never comes up after this long; against a
  // server without media (the simulator) the page keeps signalling and says so.
  var MEDIA_WAIT_MS = 60 * 60 * 1000;
  var RENEW_BEFORE_MS = 60 * 1000;
  var DELIBERATE = ["CLIENT_INITIATED", "PARTICIPANT_REMOVED", "ROOM_DELETED", "DUPLICATE_IDENTITY", "ROOM_CLOSED"];

  function csrfToken() {
    try {
      var headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
      return headers["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  function sourceLabel(source) {
    if (source === "screen_share") { return "screen"; }
    if (source === "camera") { return "camera"; }
    return "video";
  }

  // One player: a Room connection showing one video publication (and its audio).
  function Player(options) {
    this.tokenUrl = options.tokenUrl;
    this.video = options.video;
    this.audio = options.audio || null;
    this.low = !!options.low;
    this.onState = options.onState || function () {};
    this.onSources = options.onSources || function () {};
    this.state = "idle";
    this.room = null;
    this.token = null;
    this.identity = "";
    this.selected = "";
    this.signalled = false;
    this.stopping = false;
    this.renewTimer = null;
    this.audioMuted = true;
  }

  Player.prototype.setState = function (state, detail) {
    this.state = state;
    this.onState(state, STATE_WORDS[state] + (detail ? " (" + detail + ")" : ""));
  };

  Player.prototype.fetchToken = function (renew) {
    var url = this.tokenUrl + (renew ? "?renew=" + encodeURIComponent(renew) : "");
    return fetch(url, { credentials: "same-origin", redirect: "manual", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.type === "opaqueredirect" || response.status === 403 || response.status === 401) {
          var refused = new Error("forbidden");
          refused.kind = "forbidden";
          throw refused;
        }
        if (!response.ok) {
          return response.json().catch(function () { return {}; }).then(function (body) {
            var failed = new Error(body.error || "the console could not mint a token");
            failed.kind = "forbidden";
            throw failed;
          });
        }
        return response.json();
      });
  };

  Player.prototype.scheduleRenewal = function () {
    var self = this;
    clearTimeout(this.renewTimer);
    var wait = new Date(this.token.expires_at).getTime() - Date.now() - RENEW_BEFORE_MS;
    this.renewTimer = setTimeout(function () {
      if (!self.room || self.stopping) { return; }
      self.fetchToken(self.identity).then(function (token) {
        self.token = token;
        self.scheduleRenewal();
      }).catch(function () {
        self.renewTimer = setTimeout(function () { self.scheduleRenewal(); }, 10000);
      });
    }, Math.max(wait, 5000));
  };

  Player.prototype.start = function () {
    var LK = window.LivekitClient;
    var self = this;
    if (!LK) {
      this.setState("unreachable", "the LiveKit client did not load");
      return Promise.resolve();
    }
    this.stopping = false;
    this.signalled = false;
    this.setState("connecting");
    return this.fetchToken(this.identity).then(function (token) {
      self.token = token;
      self.identity = token.identity;
      return self.connect(LK);
    }).catch(function (error) {
      if (error && error.kind === "forbidden") {
        self.setState("forbidden", error.message !== "forbidden" ? error.message : "");
      } else {
        self.setState("unreachable", "the console could not be reached");
      }
    });
  };

  Player.prototype.connect = function (LK) {
    var self = this;
    var room = new LK.Room({
      adaptiveStream: true,   // subscribe at the size the video element is shown at
      dynacast: false,        // a publisher-side feature; this client never publishes
      singlePeerConnection: false, // LiveKit's /rtc signalling path (every server version)
      disconnectOnPageLeave: true,
    });
    this.room = room;
    var E = LK.RoomEvent;
    var pending = true; // until room.connect settles, its outcome names the failure
    room.on(E.SignalConnected, function () {
      self.signalled = true;
      self.scheduleRenewal();
      self.pick();
    });
    room.on(E.TrackPublished, function () { self.pick(); });
    room.on(E.TrackUnpublished, function () { self.pick(); });
    room.on(E.ParticipantConnected, function () { self.pick(); });
    room.on(E.ParticipantDisconnected, function () { self.pick(); });
    room.on(E.TrackSubscribed, function (track, publication) {
      if (track.kind === "video" && publication.trackSid === self.selected) {
        track.attach(self.video);
        if (self.low && LK.VideoQuality) { publication.setVideoQuality(LK.VideoQuality.LOW); }
        self.setState("live");
      } else if (track.kind === "audio" && self.audio) {
        track.attach(self.audio);
        self.audio.muted = self.audioMuted;
      }
    });
    room.on(E.TrackUnsubscribed, function (track) {
      track.detach();
      self.pick();
    });
    room.on(E.TrackSubscriptionFailed, function () {
      self.setState("media");
    });
    room.on(E.Disconnected, function (reason) {
      var name = LK.DisconnectReason && LK.DisconnectReason[reason];
      if (self.room !== room || pending) { return; }
      self.room = null;
      clearTimeout(self.renewTimer);
      if (self.stopping) { self.setState("idle"); return; }
      if (name && DELIBERATE.indexOf(name) === -1 && self.signalled) {
        // A drop, not a decision: come back with the renewed token (same identity).
        self.setState("connecting", "reconnecting");
        setTimeout(function () { if (!self.stopping && !self.room) { self.connect(LK); } }, 2000);
        return;
      }
      self.setState("ended", name ? name.replace(/_/g, " ").toLowerCase() : "");
    });
    return room.connect(this.token.url, this.token.token, {
      autoSubscribe: false,
      peerConnectionTimeout: MEDIA_WAIT_MS,
      websocketTimeout: 10000,
      maxRetries: 0,
    }).then(function () {
      pending = false;
      if (self.room !== room) { return; }
      self.pick();
    }, function (error) {
      pending = false;
      if (self.room !== room) { return; }
      self.room = null;
      if (self.stopping) { self.setState("idle"); return; }
      var reasons = LK.ConnectionErrorReason || {};
      var reason = error && error.reason;
      if (reason === reasons.NotAllowed) {
        self.setState("refused", error.message || "");
      } else if (self.signalled) {
        self.setState("media");
      } else {
        self.setState("unreachable");
      }
      clearTimeout(self.renewTimer);
      room.disconnect();
    });
  };

  // Every video publication, largest first (screen share before camera at equal size).
  Player.prototype.publications = function () {
    var list = [];
    if (!this.room) { return list; }
    this.room.remoteParticipants.forEach(function (participant) {
      participant.trackPublications.forEach(function (publication) {
        if (publication.kind !== "video") { return; }
        var d = publication.dimensions || { width: 0, height: 0 };
        list.push({
          sid: publication.trackSid,
          participant: participant,
          publication: publication,
          area: (d.width || 0) * (d.height || 0),
          label: sourceLabel(publication.source) + " of " + (participant.name || participant.identity),
          screen: publication.source === "screen_share",
        });
      });
    });
    list.sort(function (a, b) { return (b.area - a.area) || ((b.screen ? 1 : 0) - (a.screen ? 1 : 0)); });
    return list;
  };

  Player.prototype.pick = function (sid) {
    if (!this.room) { return; }
    var list = this.publications();
    this.onSources(list, this.selected);
    if (sid) { this.selected = sid; }
    var chosen = list.filter(function (p) { return p.sid === this.selected; }, this)[0] || list[0];
    if (!chosen) {
      this.selected = "";
      this.setState(this.room.state === "connected" ? "nothing" : "nomedia");
      return;
    }
    var self = this;
    if (chosen.sid !== this.selected || !chosen.publication.isSubscribed) {
      this.selected = chosen.sid;
      list.forEach(function (p) { if (p.sid !== chosen.sid && p.publication.isSubscribed) { p.publication.setSubscribed(false); } });
      chosen.publication.setSubscribed(true);
      if (this.audio) {
        chosen.participant.trackPublications.forEach(function (publication) {
          if (publication.kind === "audio") { publication.setSubscribed(true); }
        });
      }
    }
    this.onSources(list, this.selected);
    var track = chosen.publication.track;
    if (track && chosen.publication.isSubscribed && this.room.state === "connected") {
      track.attach(self.video);
      this.setState("live");
    } else {
      // Signalling knows what is published; media has not arrived (yet).
      this.setState("nomedia");
    }
  };

  Player.prototype.stop = function () {
    this.stopping = true;
    clearTimeout(this.renewTimer);
    var room = this.room;
    this.room = null;
    if (room) { room.disconnect(); }
    if (this.video) { this.video.srcObject = null; }
    this.setState("idle");
  };

  Player.prototype.setAudioMuted = function (muted) {
    this.audioMuted = muted;
    if (this.audio) {
      this.audio.muted = muted;
      if (!muted && this.room) { this.room.startAudio(); }
      if (!muted) { this.audio.play().catch(function () {}); }
    }
  };

  // Grab the current frame as PNG and post it; the server attaches it to the next action.
  function captureFrame(video, url, identity) {
    if (!video.videoWidth || !video.videoHeight) {
      return Promise.reject(new Error("No video frame to capture: no media is playing."));
    }
    var scale = Math.min(1, 1920 / video.videoWidth);
    var canvas = document.createElement("canvas");
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    return new Promise(function (resolve) { canvas.toBlob(resolve, "image/png"); }).then(function (blob) {
      return fetch(url + (identity ? "?identity=" + encodeURIComponent(identity) : ""), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "image/png", "X-CSRFToken": csrfToken() },
        body: blob,
      });
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) { throw new Error(body.error || "The frame could not be stored."); }
        return body;
      });
    });
  }

  // --- The room page ---------------------------------------------------------------

  function roomPreview(root) {
    var video = root.querySelector("[data-preview-video]");
    var audio = root.querySelector("[data-preview-audio]");
    var stateEl = root.querySelector("[data-preview-state]");
    var watch = root.querySelector("[data-preview-watch]");
    var stop = root.querySelector("[data-preview-stop]");
    var unmute = root.querySelector("[data-preview-unmute]");
    var source = root.querySelector("[data-preview-source]");
    var capture = root.querySelector("[data-preview-capture]");
    var evidence = root.querySelector("[data-preview-evidence]");
    var player = new Player({
      tokenUrl: root.dataset.tokenUrl,
      video: video,
      audio: audio,
      onState: function (state, words) {
        root.dataset.state = state;
        stateEl.textContent = words;
        var on = state !== "idle" && state !== "forbidden" && state !== "refused" && state !== "unreachable" && state !== "ended" && state !== "media";
        watch.hidden = on;
        stop.hidden = !on;
        unmute.hidden = !on;
        capture.hidden = !on;
        source.parentElement.hidden = !on || source.options.length < 2;
      },
      onSources: function (list, selected) {
        source.textContent = "";
        list.forEach(function (p) {
          var option = document.createElement("option");
          option.value = p.sid;
          option.textContent = p.label;
          option.selected = p.sid === selected;
          source.appendChild(option);
        });
        source.parentElement.hidden = list.length < 2;
      },
    });
    watch.addEventListener("click", function () { player.start(); });
    stop.addEventListener("click", function () { player.stop(); });
    source.addEventListener("change", function () { player.pick(source.value); });
    unmute.addEventListener("click", function () {
      var muted = !player.audioMuted;
      player.setAudioMuted(muted);
      unmute.textContent = muted ? "Unmute audio" : "Mute audio";
      unmute.setAttribute("aria-pressed", muted ? "false" : "true");
    });
    capture.addEventListener("click", function () {
      var chosen = player.publications().filter(function (p) { return p.sid === player.selected; })[0];
      evidence.textContent = "capturing…";
      captureFrame(video, root.dataset.evidenceUrl, chosen ? chosen.participant.identity : "")
        .then(function (body) { evidence.textContent = body.message; })
        .catch(function (error) { evidence.textContent = error.message; });
    });
    window.roomwatchPreview = player; // for the browser tests
  }

  // --- The wall ----------------------------------------------------------------------

  function wallPreviews(root) {
    var max = parseInt(root.dataset.max, 10) || 0;
    var template = root.dataset.tokenUrlTemplate;
    var toggle = root.querySelector("[data-wall-previews-toggle]");
    var stateEl = root.querySelector("[data-wall-previews-state]");
    var slots = {};    // room id -> {player, slot, wanted, visible}
    var auto = false;
    var visible = {};

    function playing() {
      return Object.keys(slots).filter(function (id) { return slots[id].player.room || slots[id].player.state === "connecting"; });
    }

    function say() {
      stateEl.textContent = playing().length + " of at most " + max + " previews playing";
      root.dataset.playing = String(playing().length);
    }

    function tiles() {
      return Array.prototype.slice.call(document.querySelectorAll("article[id^='wall-card-']"));
    }

    function roomId(tile) { return tile.id.replace("wall-card-", ""); }

    function ensureSlot(tile) {
      var id = roomId(tile);
      var entry = slots[id];
      if (!entry) {
        var slot = document.createElement("div");
        slot.className = "tile-preview";
        slot.dataset.state = "idle";
        slot.innerHTML = '<video playsinline muted></video><p class="preview-state" role="status"></p>' +
          '<div class="tile-preview-controls"><button type="button" class="link" data-tile-play>Preview</button> ' +
          '<a class="link" target="_blank" rel="noopener" data-tile-open>Open in new tab ↗</a></div>';
        entry = { slot: slot, wanted: false };
        var state = slot.querySelector(".preview-state");
        entry.player = new Player({
          tokenUrl: template.replace("/0/", "/" + id + "/"),
          video: slot.querySelector("video"),
          low: true,
          onState: function (name, words) {
            slot.dataset.state = name;
            state.textContent = name === "idle" ? "" : words;
            slot.querySelector("[data-tile-play]").textContent = name === "idle" || name === "busy" || name === "ended" ? "Preview" : "Stop preview";
            say();
          },
        });
        slot.querySelector("[data-tile-play]").addEventListener("click", function () {
          if (entry.player.state === "idle" || entry.player.state === "busy" || entry.player.state === "ended") {
            entry.wanted = true;
            schedule(id, true);
          } else {
            entry.wanted = false;
            entry.player.stop();
            schedule();
          }
        });
        slots[id] = entry;
      }
      var link = tile.querySelector("h2 a");
      entry.slot.querySelector("[data-tile-open]").href = link ? link.getAttribute("href") : "#";
      if (entry.slot.parentNode !== tile) { tile.appendChild(entry.slot); } // survives grid refreshes
      return entry;
    }

    // Play what is wanted and on screen, pinned (first in the grid) first, up to max.
    function schedule(explicitId, explicit) {
      var order = tiles().map(roomId);
      var count = playing().length;
      order.forEach(function (id) {
        var entry = slots[id];
        if (!entry) { return; }
        var want = (auto || entry.wanted) && visible[id];
        var active = entry.player.room || entry.player.state === "connecting";
        if (!want && active) { entry.player.stop(); count -= 1; }
      });
      order.forEach(function (id) {
        var entry = slots[id];
        if (!entry) { return; }
        var want = (auto || entry.wanted) && visible[id];
        var active = entry.player.room || entry.player.state === "connecting";
        // A preview that failed waits for a click rather than retrying on every push.
        var startable = entry.player.state === "idle" || entry.player.state === "busy" || id === explicitId;
        if (want && !active && startable) {
          if (count < max) {
            count += 1;
            entry.player.start();
          } else if (explicit && id === explicitId) {
            entry.player.setState("busy", "at most " + max + " at once");
          }
        }
      });
      say();
    }

    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) { visible[roomId(e.target)] = e.isIntersecting; });
      schedule();
    }, { threshold: 0.25 });

    function scan() {
      var present = {};
      tiles().forEach(function (tile) {
        ensureSlot(tile);
        observer.observe(tile);
        present[roomId(tile)] = true;
      });
      Object.keys(slots).forEach(function (id) {
        if (!present[id]) { slots[id].player.stop(); delete slots[id]; delete visible[id]; }
      });
      schedule();
    }

    toggle.addEventListener("click", function () {
      auto = !auto;
      toggle.setAttribute("aria-pressed", auto ? "true" : "false");
      toggle.textContent = auto ? "Stop previews" : "Preview visible rooms";
      if (!auto) { Object.keys(slots).forEach(function (id) { slots[id].wanted = false; }); }
      schedule();
    });
    document.body.addEventListener("htmx:afterSettle", scan);
    scan();
    if (max === 0) { toggle.disabled = true; }
  }

  function init() {
    document.querySelectorAll("[data-preview='room']").forEach(roomPreview);
    document.querySelectorAll("[data-preview='wall']").forEach(wallPreviews);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
