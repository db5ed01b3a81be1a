"""LiveKit-shaped webhooks for seeded rooms, signed exactly as LiveKit signs them.

Importable without Django (the load generator runs in a process of its own).

:class:`EventMaker` keeps each room's state (who is present, which tracks they
publish) so the stream is one LiveKit could send: joins of new identities, leaves of
present ones, tracks published by present participants and unpublished later. Bodies
are protobuf ``WebhookEvent`` as proto3 JSON (lowerCamelCase, zero values omitted);
join/leave events carry the full room, track events a minimal room ``{sid, name}`` and
a minimal participant ``{sid, identity}`` (``shared/LIVEKIT.md``, Webhooks).
"""

from __future__ import annotations

import random
import secrets
import string
import time
from dataclasses import dataclass, field

from livekit.protocol import models
from livekit.protocol import webhook as webhook_pb

from monitoring.livekit_sim.webhooks import CONTENT_TYPE, USER_AGENT, event_body, sign

__all__ = ["CONTENT_TYPE", "USER_AGENT", "EventMaker", "RoomSpec", "headers", "run_tag", "sign"]

# Share of the events that go to the first ("big") room; the rest are spread evenly.
BIG_ROOM_SHARE = 0.5
# join, leave, track_published, track_unpublished: about as many leave as join, so the
# big room keeps its size over a run.
MIX = (("join", 0.30), ("leave", 0.30), ("publish", 0.22), ("unpublish", 0.18))
SOURCES = (
    (models.TrackSource.MICROPHONE, models.TrackType.AUDIO, "audio/opus"),
    (models.TrackSource.CAMERA, models.TrackType.VIDEO, "video/VP8"),
)


def run_tag() -> str:
    """Four characters that make this run's event ids (``EV_<tag><8 digits>``) unique."""
    alphabet = string.ascii_uppercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(4))


def headers(authorization: str) -> dict[str, str]:
    """The headers of one delivery: the raw JWT (no ``Bearer``), LiveKit's content type."""
    return {"Authorization": authorization, "Content-Type": CONTENT_TYPE, "User-Agent": USER_AGENT}


@dataclass
class RoomSpec:
    """A room as seeded in the mirror: its sid, name and present participants."""

    sid: str
    name: str
    created_at: int
    # (sid, identity, joined_at unix seconds) of each present participant.
    present: list[tuple[str, str, int]] = field(default_factory=list)


@dataclass
class _Member:
    sid: str
    identity: str
    joined_at: int
    tracks: list[models.TrackInfo] = field(default_factory=list)


class _RoomState:
    def __init__(self, spec: RoomSpec) -> None:
        self.spec = spec
        self.members: list[_Member] = [_Member(s, i, j) for s, i, j in spec.present]
        self.publishing: list[_Member] = []

    def room(self, *, full: bool) -> models.Room:
        if not full:
            return models.Room(sid=self.spec.sid, name=self.spec.name)
        return models.Room(
            sid=self.spec.sid,
            name=self.spec.name,
            empty_timeout=300,
            departure_timeout=20,
            creation_time=self.spec.created_at,
            creation_time_ms=self.spec.created_at * 1000,
            num_participants=len(self.members),
            num_publishers=len(self.publishing),
        )


class EventMaker:
    """Makes a stream of events over ``rooms`` (the first is the big one)."""

    def __init__(
        self, rooms: list[RoomSpec], *, tag: str, seed: int = 7, big_share: float = BIG_ROOM_SHARE
    ) -> None:
        if not rooms:
            raise ValueError("at least one room is needed")
        self.rooms = [_RoomState(spec) for spec in rooms]
        self.tag = tag
        self.big_share = big_share if len(rooms) > 1 else 1.0
        self.rng = random.Random(seed)
        self.count = 0
        self.joined = 0

    def event_id(self) -> str:
        self.count += 1
        return f"EV_{self.tag}{self.count:08d}"

    def next(self, *, room_index: int | None = None) -> tuple[str, str, str]:
        """(event id, kind, body) of the next event."""
        if room_index is None:
            if self.rng.random() < self.big_share:
                room_index = 0
            else:
                room_index = self.rng.randrange(1, len(self.rooms)) if len(self.rooms) > 1 else 0
        state = self.rooms[room_index]
        kind = self.rng.choices([k for k, _ in MIX], weights=[w for _, w in MIX])[0]
        if kind == "leave" and len(state.members) <= 1:
            kind = "join"
        if kind == "unpublish" and not state.publishing:
            kind = "publish"
        if kind == "publish" and not state.members:
            kind = "join"
        now = int(time.time())
        event_id = self.event_id()
        if kind == "join":
            return event_id, "participant_joined", self._join(state, event_id, now)
        if kind == "leave":
            return event_id, "participant_left", self._leave(state, event_id, now)
        if kind == "publish":
            return event_id, "track_published", self._publish(state, event_id, now)
        return event_id, "track_unpublished", self._unpublish(state, event_id, now)

    def join(self, room_index: int) -> tuple[str, str, str]:
        """A join in one room (the fan-out and latency probes)."""
        event_id = self.event_id()
        body = self._join(self.rooms[room_index], event_id, int(time.time()))
        return event_id, "participant_joined", body

    # -- one event per kind ---------------------------------------------------

    def _participant(
        self, member: _Member, *, state: int, reason: int = 0
    ) -> models.ParticipantInfo:
        return models.ParticipantInfo(
            sid=member.sid,
            identity=member.identity,
            name=member.identity,
            state=state,
            joined_at=member.joined_at,
            joined_at_ms=member.joined_at * 1000,
            kind=models.ParticipantInfo.Kind.STANDARD,
            permission=models.ParticipantPermission(
                can_subscribe=True, can_publish=True, can_publish_data=True
            ),
            is_publisher=bool(member.tracks),
            disconnect_reason=reason,
            region="bench",
            version=1,
        )

    def _join(self, state: _RoomState, event_id: str, now: int) -> str:
        self.joined += 1
        member = _Member(
            sid=f"PA_{self.tag}J{self.joined:08d}",
            identity=f"load-{self.tag.lower()}-{self.joined}",
            joined_at=now,
        )
        state.members.append(member)
        participant = self._participant(member, state=models.ParticipantInfo.State.ACTIVE)
        return self._body(
            event_id, "participant_joined", now, room=state.room(full=True), participant=participant
        )

    def _leave(self, state: _RoomState, event_id: str, now: int) -> str:
        index = self.rng.randrange(len(state.members))
        member = state.members[index]
        # O(1) removal: order among present members does not matter here.
        state.members[index] = state.members[-1]
        state.members.pop()
        if member.tracks:
            state.publishing.remove(member)
            member.tracks = []
        participant = self._participant(
            member,
            state=models.ParticipantInfo.State.DISCONNECTED,
            reason=models.DisconnectReason.CLIENT_INITIATED,
        )
        return self._body(
            event_id, "participant_left", now, room=state.room(full=True), participant=participant
        )

    def _publish(self, state: _RoomState, event_id: str, now: int) -> str:
        member = state.members[self.rng.randrange(len(state.members))]
        source, kind, mime = SOURCES[len(member.tracks) % len(SOURCES)]
        track = models.TrackInfo(
            sid=f"TR_{event_id[3:]}",
            type=kind,
            source=source,
            name="microphone" if kind == models.TrackType.AUDIO else "camera",
            mime_type=mime,
        )
        if not member.tracks:
            state.publishing.append(member)
        member.tracks.append(track)
        return self._body(
            event_id,
            "track_published",
            now,
            room=state.room(full=False),
            participant=models.ParticipantInfo(sid=member.sid, identity=member.identity),
            track=track,
        )

    def _unpublish(self, state: _RoomState, event_id: str, now: int) -> str:
        member = state.publishing[self.rng.randrange(len(state.publishing))]
        track = member.tracks.pop(self.rng.randrange(len(member.tracks)))
        if not member.tracks:
            state.publishing.remove(member)
        return self._body(
            event_id,
            "track_unpublished",
            now,
            room=state.room(full=False),
            participant=models.ParticipantInfo(sid=member.sid, identity=member.identity),
            track=track,
        )

    @staticmethod
    def _body(event_id: str, name: str, now: int, **fields: object) -> str:
        event = webhook_pb.WebhookEvent(event=name, id=event_id, created_at=now, **fields)
        return event_body(event)
