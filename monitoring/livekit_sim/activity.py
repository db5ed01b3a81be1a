"""Demo churn: keeps N rooms alive the way a live-streaming platform looks.

Hosts go live with camera and microphone, viewers come and go (some of them drop
off the network), co-hosts join with a `role` attribute, recordings start and
stop, and now and then a stream ends and another one starts elsewhere.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import urllib.request

from livekit.protocol import models

from .state import SimError, SimRoom, SimState

logger = logging.getLogger(__name__)

ROOM_TOPICS = [
    "lofi-study-beats",
    "speedrun-sunday",
    "retro-arcade-night",
    "street-food-tour",
    "indie-dev-log",
    "chess-blitz-arena",
    "synthwave-radio",
    "bouldering-live",
    "pottery-wheel",
    "trivia-tuesday",
    "cozy-farming",
    "late-night-talk",
]
HANDLE_WORDS = [
    "neon",
    "pixel",
    "moss",
    "ember",
    "glitch",
    "lunar",
    "velvet",
    "static",
    "cobalt",
    "maple",
    "quartz",
    "echo",
    "drift",
    "nova",
    "fern",
    "orbit",
    "rust",
    "tidal",
]
HANDLE_NOUNS = [
    "fox",
    "owl",
    "otter",
    "comet",
    "moth",
    "wolf",
    "heron",
    "koi",
    "lynx",
    "raven",
    "crane",
    "bison",
    "gecko",
    "finch",
]


def handle_name(rng: random.Random) -> tuple[str, str]:
    """An identity and display name that look like a platform account."""
    word, noun = rng.choice(HANDLE_WORDS), rng.choice(HANDLE_NOUNS)
    number = rng.randint(1, 9999)
    return f"user_{word}{noun}{number}", f"{word.capitalize()}{noun.capitalize()}{number}"


class Activity:
    def __init__(
        self,
        state: SimState,
        *,
        rooms: int,
        tick_seconds: float = 1.5,
        seed: int | None = None,
    ) -> None:
        self.state = state
        self.rooms = rooms
        self.tick_seconds = tick_seconds
        self.rng = random.Random(seed)
        # The demo sets these so viewers' reports reach the console's queue through its API.
        self.reports_url = os.environ.get("ROOMWATCH_DEMO_REPORTS_URL", "")
        self.reports_key = os.environ.get("ROOMWATCH_DEMO_REPORTS_KEY", "")

    async def run(self) -> None:
        while True:
            try:
                self.step()
            except SimError as exc:
                # A conflicting control call (e.g. a test removed someone): try again next tick.
                logger.debug("activity step skipped: %s", exc.message)
            await asyncio.sleep(self.tick_seconds)

    # -- one tick ---------------------------------------------------------------

    def live_rooms(self) -> list[SimRoom]:
        """Demo rooms whose host is still on air."""
        return [
            r
            for r in self.state.rooms.values()
            if r.info.metadata.startswith('{"demo": true') and self._by_role(r, "host")
        ]

    def step(self) -> None:
        rooms = self.live_rooms()
        if len(rooms) < self.rooms:
            self.go_live()
            return
        room = self.rng.choice(rooms)
        roll = self.rng.random()
        if roll < 0.40:
            self.viewer_joins(room)
        elif roll < 0.62:
            self.viewer_leaves(room, abnormally=self.rng.random() < 0.25)
        elif roll < 0.70:
            self.co_host_changes(room)
        elif roll < 0.78:
            self.toggle_recording(room)
        elif roll < 0.86:
            self.toggle_mute(room)
        elif roll < 0.90:
            self.toggle_screen_share(room)
        elif roll < 0.93:
            self.end_stream(room)
        elif roll < 0.96 and self.reports_url:
            self.viewers_report(room)
        elif roll < 0.97:
            self.raid(room)

    def go_live(self) -> None:
        taken = set(self.state.rooms)
        free = [t for t in ROOM_TOPICS if t not in taken] or [
            f"stream-{self.rng.randint(1000, 9999)}"
        ]
        name = self.rng.choice(free)
        self.state.create_room(
            name=name,
            empty_timeout=60,
            departure_timeout=30,
            metadata=json.dumps({"demo": True, "title": name.replace("-", " ").title()}),
        )
        identity, display = handle_name(self.rng)
        self.state.join(
            room=name,
            identity=identity,
            name=display,
            attributes={"role": "host"},
            metadata='{"verified": true}',
            publish=["camera", "microphone"],
        )
        for _ in range(self.rng.randint(2, 6)):
            self.viewer_joins(self.state.rooms[name])

    def viewer_joins(self, room: SimRoom) -> None:
        identity, display = handle_name(self.rng)
        self.state.join(
            room=room.info.name,
            identity=identity,
            name=display,
            attributes={"role": "viewer"},
            can_publish=False,
        )

    def _by_role(self, room: SimRoom, role: str) -> list[models.ParticipantInfo]:
        return [p for p in room.participants.values() if p.attributes.get("role") == role]

    def viewer_leaves(self, room: SimRoom, *, abnormally: bool) -> None:
        viewers = self._by_role(room, "viewer")
        if not viewers:
            return
        viewer = self.rng.choice(viewers)
        reason = (
            models.DisconnectReason.SIGNAL_CLOSE
            if abnormally
            else models.DisconnectReason.CLIENT_INITIATED
        )
        self.state.leave(room=room.info.name, identity=viewer.identity, reason=reason)

    def co_host_changes(self, room: SimRoom) -> None:
        co_hosts = self._by_role(room, "co-host")
        if co_hosts:
            self.state.leave(
                room=room.info.name,
                identity=co_hosts[0].identity,
                reason=models.DisconnectReason.CLIENT_INITIATED,
            )
            return
        identity, display = handle_name(self.rng)
        self.state.join(
            room=room.info.name,
            identity=identity,
            name=display,
            attributes={"role": "co-host"},
            publish=["camera", "microphone"],
        )

    def toggle_recording(self, room: SimRoom) -> None:
        active = self.state.list_egress(room_name=room.info.name, active=True)
        if active:
            self.state.stop_egress(egress_id=active[0].egress_id)
        else:
            self.state.start_egress(room=room.info.name)

    def toggle_mute(self, room: SimRoom) -> None:
        publishers = [p for p in room.participants.values() if p.tracks]
        if not publishers:
            return
        participant = self.rng.choice(publishers)
        track = self.rng.choice(list(participant.tracks))
        self.state.set_track_muted(
            room=room.info.name,
            identity=participant.identity,
            track_sid=track.sid,
            muted=not track.muted,
        )

    def toggle_screen_share(self, room: SimRoom) -> None:
        hosts = self._by_role(room, "host")
        if not hosts:
            return
        host = hosts[0]
        sharing = [t for t in host.tracks if t.source == models.TrackSource.SCREEN_SHARE]
        if sharing:
            self.state.unpublish(
                room=room.info.name, identity=host.identity, track_sid=sharing[0].sid
            )
        else:
            self.state.publish(room=room.info.name, identity=host.identity, source="screen_share")

    def end_stream(self, room: SimRoom) -> None:
        """Everyone leaves; the room then closes by its departure timeout."""
        for participant in list(room.participants.values()):
            self.state.leave(
                room=room.info.name,
                identity=participant.identity,
                reason=models.DisconnectReason.CLIENT_INITIATED,
            )

    # -- the queue: viewers' reports and the odd raid ------------------------------

    def raid(self, room: SimRoom) -> None:
        """Forty accounts join at once (the console's join-surge alert opens a case)."""
        for _ in range(40):
            self.viewer_joins(room)

    def viewers_report(self, room: SimRoom) -> None:
        """One to four viewers report someone in the room (or the room) to the console."""
        present = list(room.participants.values())
        target = self.rng.choice(present).identity if present and self.rng.random() < 0.8 else ""
        category = self.rng.choice(
            ["spam_or_scam", "harassment_or_bullying", "hate_speech", "other"]
        )
        for _ in range(self.rng.randint(1, 4)):
            body = {
                "report_id": f"demo-{self.rng.getrandbits(48):012x}",
                "room": room.info.name,
                "reporter": handle_name(self.rng)[0],
                "category": category,
                "text": "Reported from the app",
            }
            if target:
                body["identity"] = target
                body["excerpt"] = self.rng.choice(
                    ["click my link for free coins", "you are all idiots", "follow4follow"]
                )
            asyncio.get_running_loop().run_in_executor(None, self._report_send, body)

    def _report_send(self, body: dict[str, str]) -> None:
        request = urllib.request.Request(
            self.reports_url,
            data=json.dumps(body).encode(),
            method="POST",
            headers={
                "Authorization": f"Bearer {self.reports_key}",
                "Content-Type": "application/json",
            },
        )
        try:
            urllib.request.urlopen(request, timeout=5).close()
        except OSError as exc:
            logger.debug("demo report not delivered: %s", exc)
