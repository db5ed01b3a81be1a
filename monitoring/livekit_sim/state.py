"""The simulator's truth: rooms, participants, tracks, egress, ingress and their lifecycle.

Everything is held as real `livekit.protocol` messages so the Twirp layer can
return them as they are. Every change that LiveKit reports by webhook calls
``on_event(event, key)`` with a ready `WebhookEvent`; ``key`` is the delivery
queue (the room name, or the egress/ingress id) so order holds per room.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from livekit.protocol import egress as egress_pb
from livekit.protocol import ingress as ingress_pb
from livekit.protocol import models
from livekit.protocol import webhook as webhook_pb

SID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

DEFAULT_EMPTY_TIMEOUT = 300
DEFAULT_DEPARTURE_TIMEOUT = 20
MAX_NAME_LENGTH = 256
MAX_METADATA_BYTES = 512 * 1024
MAX_ATTRIBUTES_BYTES = 64 * 1024
# A participant whose media has not connected this long after joining is dropped.
JOIN_TIMEOUT_SECONDS = 60

# Participants of these kinds keep nothing alive and are left out of the counts.
UNCOUNTED_KINDS = (models.ParticipantInfo.Kind.AGENT, models.ParticipantInfo.Kind.EGRESS)
ACTIVE_EGRESS = (
    egress_pb.EgressStatus.EGRESS_STARTING,
    egress_pb.EgressStatus.EGRESS_ACTIVE,
    egress_pb.EgressStatus.EGRESS_ENDING,
)

SOURCES = {
    "camera": (models.TrackSource.CAMERA, models.TrackType.VIDEO),
    "microphone": (models.TrackSource.MICROPHONE, models.TrackType.AUDIO),
    "screen_share": (models.TrackSource.SCREEN_SHARE, models.TrackType.VIDEO),
    "screen_share_audio": (models.TrackSource.SCREEN_SHARE_AUDIO, models.TrackType.AUDIO),
}
# Short names accepted by the control API's `publish` list.
PUBLISH_ALIASES = {
    "audio": "microphone",
    "video": "camera",
    "screen": "screen_share",
    "mic": "microphone",
}


def new_sid(prefix: str) -> str:
    return prefix + "".join(secrets.choice(SID_ALPHABET) for _ in range(12))


class SimError(Exception):
    """A failure LiveKit would report: a Twirp code and its message.

    ``domain`` errors passed through LiveKit's internal RPC layer and carry the
    ``twirp error unknown: `` prefix on the wire; errors the service writes as
    native Twirp errors (``domain=False``) do not. ``meta`` is the Twirp meta.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        domain: bool = True,
        meta: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.domain = domain
        self.meta = meta


def exceeds_limit(what: str, limit: int) -> SimError:
    """`twirp.InvalidArgumentError(what, limit)`, as LiveKit writes a size limit."""
    return SimError("invalid_argument", f"{what} {limit}", domain=False, meta={"argument": what})


def metadata_too_large() -> SimError:
    return exceeds_limit("metadata size exceeds limits", MAX_METADATA_BYTES)


def insufficient_permissions() -> SimError:
    """What a real client's publish raises when its permission does not allow it."""
    return SimError("permission_denied", "failed to publish track, insufficient permissions")


def room_not_found() -> SimError:
    return SimError("not_found", "requested room does not exist")


def participant_not_found() -> SimError:
    return SimError("not_found", "participant does not exist")


class SimClock:
    """Wall-clock time plus an offset that tests move forward with /sim/clock."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock or time.time
        self.offset = 0.0

    def now(self) -> float:
        return self._clock() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class SimRoom:
    info: models.Room
    enable_remote_unmute: bool = False
    participants: dict[str, models.ParticipantInfo] = field(default_factory=dict)
    ever_joined: bool = False
    last_departure: float | None = None


@dataclass
class Removal:
    room: str
    identity: str
    reason: str


@dataclass
class DataMessage:
    room: str
    topic: str
    payload: bytes
    destination_identities: list[str]
    kind: str


def _counts(participant: models.ParticipantInfo) -> bool:
    return participant.kind not in UNCOUNTED_KINDS


def _may_publish(permission: models.ParticipantPermission, source: int) -> bool:
    """`can_publish` and, when it is a non-empty list, `can_publish_sources`."""
    allowed = permission.can_publish_sources
    return permission.can_publish and (not allowed or source in allowed)


def _attributes_size(attributes: Any) -> int:
    return sum(len(k.encode()) + len(v.encode()) for k, v in attributes.items())


class SimState:
    def __init__(
        self,
        clock: SimClock,
        on_event: Callable[[webhook_pb.WebhookEvent, str], None] | None = None,
    ) -> None:
        self.clock = clock
        self.on_event = on_event or (lambda event, key: None)
        self.reset()

    def reset(self) -> None:
        self.rooms: dict[str, SimRoom] = {}
        self.egress: dict[str, egress_pb.EgressInfo] = {}
        self.ingress: dict[str, ingress_pb.IngressInfo] = {}
        self.data_messages: list[DataMessage] = []
        self.removed: list[Removal] = []

    # -- events ---------------------------------------------------------------

    def _emit(self, name: str, key: str, **fields: Any) -> None:
        event = webhook_pb.WebhookEvent(
            event=name, id=new_sid("EV_"), created_at=int(self.clock.now()), **fields
        )
        self.on_event(event, key)

    @staticmethod
    def _minimal_participant(p: models.ParticipantInfo) -> models.ParticipantInfo:
        return models.ParticipantInfo(sid=p.sid, identity=p.identity)

    def _minimal_room(self, name: str) -> models.Room:
        """The `{sid, name}` room of track and egress events."""
        room = self.rooms.get(name)
        return models.Room(sid=room.info.sid if room else "", name=name)

    @staticmethod
    def _name_only_room(name: str) -> models.Room:
        """Ingress events name the room and carry no sid."""
        return models.Room(name=name)

    # -- rooms ----------------------------------------------------------------

    def get_room(self, name: str) -> SimRoom:
        room = self.rooms.get(name)
        if room is None:
            raise room_not_found()
        return room

    def room_info(self, room: SimRoom) -> models.Room:
        info = models.Room()
        info.CopyFrom(room.info)
        # Hidden participants count; agents and egress do not. Every participant whose
        # (sticky) is_publisher is set counts as a publisher, agents included.
        info.num_participants = sum(1 for p in room.participants.values() if _counts(p))
        info.num_publishers = sum(1 for p in room.participants.values() if p.is_publisher)
        info.active_recording = any(
            e.room_name == room.info.name and e.status in ACTIVE_EGRESS
            for e in self.egress.values()
        )
        return info

    def create_room(
        self,
        *,
        name: str,
        empty_timeout: int = 0,
        departure_timeout: int = 0,
        max_participants: int = 0,
        metadata: str = "",
        enable_remote_unmute: bool = False,
    ) -> tuple[SimRoom, bool]:
        """Get or create; an existing room is returned unchanged."""
        if not name:
            raise SimError("invalid_argument", "room name is required")
        if len(name) > MAX_NAME_LENGTH:
            raise SimError(
                "invalid_argument",
                f"room name length exceeds limits: max length {MAX_NAME_LENGTH}",
            )
        if len(metadata.encode()) > MAX_METADATA_BYTES:
            raise metadata_too_large()
        existing = self.rooms.get(name)
        if existing is not None:
            return existing, False
        now = self.clock.now()
        room = SimRoom(
            info=models.Room(
                sid=new_sid("RM_"),
                name=name,
                empty_timeout=empty_timeout or DEFAULT_EMPTY_TIMEOUT,
                departure_timeout=departure_timeout or DEFAULT_DEPARTURE_TIMEOUT,
                max_participants=max_participants,
                creation_time=int(now),
                creation_time_ms=int(now * 1000),
                metadata=metadata,
            ),
            enable_remote_unmute=enable_remote_unmute,
        )
        self.rooms[name] = room
        self._emit("room_started", name, room=self.room_info(room))
        return room, True

    def update_room_metadata(self, *, room: str, metadata: str) -> models.Room:
        sim_room = self.get_room(room)
        if len(metadata.encode()) > MAX_METADATA_BYTES:
            raise metadata_too_large()
        sim_room.info.metadata = metadata
        sim_room.info.version.unix_micro = int(self.clock.now() * 1_000_000)
        sim_room.info.version.ticks += 1
        return self.room_info(sim_room)

    def delete_room(self, *, room: str) -> None:
        self.get_room(room)
        self._close_room(room, models.DisconnectReason.ROOM_DELETED)

    def _close_room(self, name: str, reason: int) -> None:
        room = self.rooms[name]
        for identity in list(room.participants):
            self._disconnect(room, identity, reason, track_departure=False)
        for egress in list(self.egress.values()):
            if egress.room_name == name and egress.status in ACTIVE_EGRESS:
                self.stop_egress(egress_id=egress.egress_id)
        finished = self.room_info(room)
        del self.rooms[name]
        # WebhookEvent has no end-reason field in LiveKit's own events.
        self._emit("room_finished", name, room=finished)

    def abort_stale_joins(self) -> list[tuple[str, str]]:
        """Remove participants still not ACTIVE a minute after joining (JOIN_FAILURE)."""
        now = self.clock.now()
        aborted = []
        for name, room in list(self.rooms.items()):
            for identity, p in list(room.participants.items()):
                stale = now - p.joined_at_ms / 1000 >= JOIN_TIMEOUT_SECONDS
                if p.state != models.ParticipantInfo.State.ACTIVE and stale:
                    self._disconnect(room, identity, models.DisconnectReason.JOIN_FAILURE)
                    aborted.append((name, identity))
        return aborted

    def check_closing(self) -> list[str]:
        """Abort stale joins, then close every room whose empty or departure timeout ran out."""
        self.abort_stale_joins()
        now = self.clock.now()
        closed = []
        for name, room in list(self.rooms.items()):
            if any(_counts(p) for p in room.participants.values()):
                continue
            if room.ever_joined:
                expired = (
                    room.last_departure is not None
                    and now - room.last_departure >= room.info.departure_timeout
                )
            else:
                expired = now - room.info.creation_time >= room.info.empty_timeout
            if expired:
                self._close_room(name, models.DisconnectReason.ROOM_CLOSED)
                closed.append(name)
        return closed

    # -- participants ---------------------------------------------------------

    def get_participant(self, *, room: str, identity: str) -> models.ParticipantInfo:
        sim_room = self.rooms.get(room)
        if sim_room is None or identity not in sim_room.participants:
            raise participant_not_found()
        return sim_room.participants[identity]

    def join(
        self,
        *,
        room: str,
        identity: str,
        name: str = "",
        metadata: str = "",
        attributes: dict[str, str] | None = None,
        kind: str = "STANDARD",
        publish: list[str] | None = None,
        can_publish: bool = True,
        connect: bool = True,
        hidden: bool = False,
    ) -> models.ParticipantInfo:
        """A client joins, as a real one would with a join token.

        The room is created on first join. ``connect=False`` leaves the participant
        JOINING (its media never connected) until `connect` is called; a minute later
        it is removed (`abort_stale_joins`). ``hidden`` is the token's hidden grant.
        """
        if not identity:
            raise SimError("invalid_argument", "identity is required")
        try:
            kind_value = models.ParticipantInfo.Kind.Value(kind.upper())
        except ValueError:
            raise SimError("invalid_argument", f"unknown participant kind {kind!r}") from None
        sources = [PUBLISH_ALIASES.get(s, s) for s in (publish or [])]
        unknown = [s for s in sources if s not in SOURCES]
        if unknown:
            raise SimError("invalid_argument", f"unknown track source {unknown[0]!r}")
        if sources and not can_publish:
            raise SimError("invalid_argument", "a participant without can_publish cannot publish")
        if len(name) > MAX_NAME_LENGTH:
            raise SimError("invalid_argument", "name length exceeds limits")
        if len(metadata.encode()) > MAX_METADATA_BYTES:
            raise SimError("invalid_argument", "metadata size exceeds limits")
        attributes = dict(attributes or {})
        if _attributes_size(attributes) > MAX_ATTRIBUTES_BYTES:
            raise SimError("invalid_argument", "attribute size exceeds limits")
        existing_room = self.rooms.get(room)
        if existing_room is not None and existing_room.info.max_participants:
            others = [
                p for i, p in existing_room.participants.items() if i != identity and _counts(p)
            ]
            if kind_value not in UNCOUNTED_KINDS and (
                len(others) >= existing_room.info.max_participants
            ):
                raise SimError("resource_exhausted", "room is full")
        sim_room, _ = self.create_room(name=room)
        if identity in sim_room.participants:
            self._disconnect(sim_room, identity, models.DisconnectReason.DUPLICATE_IDENTITY)
        now = self.clock.now()
        participant = models.ParticipantInfo(
            sid=new_sid("PA_"),
            identity=identity,
            name=name,
            metadata=metadata,
            state=models.ParticipantInfo.State.JOINING,
            joined_at=int(now),
            joined_at_ms=int(now * 1000),
            kind=kind_value,
            permission=models.ParticipantPermission(
                can_subscribe=True,
                can_publish=can_publish,
                can_publish_data=True,
                hidden=hidden or kind_value == models.ParticipantInfo.Kind.EGRESS,
                recorder=kind_value == models.ParticipantInfo.Kind.EGRESS,
                agent=kind_value == models.ParticipantInfo.Kind.AGENT,
            ),
            region="sim",
            version=1,
        )
        participant.attributes.update(attributes)
        sim_room.participants[identity] = participant
        if _counts(participant):
            sim_room.ever_joined = True
            sim_room.last_departure = None
        if connect:
            self.connect(room=room, identity=identity)
            for source in sources:
                self.publish(room=room, identity=identity, source=source)
        return participant

    def connect(self, *, room: str, identity: str) -> models.ParticipantInfo:
        participant = self.get_participant(room=room, identity=identity)
        if participant.state == models.ParticipantInfo.State.ACTIVE:
            return participant
        participant.state = models.ParticipantInfo.State.ACTIVE
        self._emit(
            "participant_joined",
            room,
            room=self.room_info(self.rooms[room]),
            participant=participant,
        )
        return participant

    def leave(self, *, room: str, identity: str, reason: int) -> models.ParticipantInfo:
        sim_room = self.rooms.get(room)
        if sim_room is None or identity not in sim_room.participants:
            raise participant_not_found()
        return self._disconnect(sim_room, identity, reason)

    def remove_participant(self, *, room: str, identity: str) -> None:
        self.leave(room=room, identity=identity, reason=models.DisconnectReason.PARTICIPANT_REMOVED)

    def _disconnect(
        self, room: SimRoom, identity: str, reason: int, *, track_departure: bool = True
    ) -> models.ParticipantInfo:
        participant = room.participants[identity]
        for track in list(participant.tracks):
            self._unpublish(room, participant, track.sid)
        never_connected = participant.state != models.ParticipantInfo.State.ACTIVE
        del room.participants[identity]
        participant.state = models.ParticipantInfo.State.DISCONNECTED
        participant.disconnect_reason = reason
        self.removed.append(Removal(room.info.name, identity, models.DisconnectReason.Name(reason)))
        if track_departure and not any(_counts(p) for p in room.participants.values()):
            room.last_departure = self.clock.now()
        self._emit(
            "participant_connection_aborted" if never_connected else "participant_left",
            room.info.name,
            room=self.room_info(room),
            participant=participant,
        )
        return participant

    def update_participant(
        self,
        *,
        room: str,
        identity: str,
        name: str = "",
        metadata: str = "",
        attributes: dict[str, str] | None = None,
        permission: models.ParticipantPermission | None = None,
    ) -> models.ParticipantInfo:
        participant = self.get_participant(room=room, identity=identity)
        if len(name) > MAX_NAME_LENGTH:
            raise exceeds_limit("name length exceeds limits", MAX_NAME_LENGTH)
        if len(metadata.encode()) > MAX_METADATA_BYTES:
            raise metadata_too_large()
        merged = dict(participant.attributes)
        for key, value in (attributes or {}).items():
            if value == "":
                merged.pop(key, None)
            else:
                merged[key] = value
        if _attributes_size(merged) > MAX_ATTRIBUTES_BYTES:
            raise exceeds_limit("attribute size exceeds limits", MAX_ATTRIBUTES_BYTES)
        if name:
            participant.name = name
        if metadata:
            participant.metadata = metadata
        participant.attributes.clear()
        participant.attributes.update(merged)
        if permission is not None:
            participant.permission.CopyFrom(permission)
            sim_room = self.rooms[room]
            for track in list(participant.tracks):
                if not _may_publish(participant.permission, track.source):
                    self._unpublish(sim_room, participant, track.sid)
        participant.version += 1
        return participant

    # -- tracks ---------------------------------------------------------------

    def publish(
        self, *, room: str, identity: str, source: str, muted: bool = False, name: str = ""
    ) -> models.TrackInfo:
        participant = self.get_participant(room=room, identity=identity)
        source = PUBLISH_ALIASES.get(source, source)
        if source not in SOURCES:
            raise SimError("invalid_argument", f"unknown track source {source!r}")
        if participant.state != models.ParticipantInfo.State.ACTIVE:
            raise SimError("failed_precondition", "participant is not connected")
        source_value, track_type = SOURCES[source]
        if not _may_publish(participant.permission, source_value):
            raise insufficient_permissions()
        track = models.TrackInfo(
            sid=new_sid("TR_"),
            type=track_type,
            source=source_value,
            muted=muted,
            name=name or source,
            mime_type="video/VP8" if track_type == models.TrackType.VIDEO else "audio/opus",
        )
        if track_type == models.TrackType.VIDEO:
            track.width, track.height, track.simulcast = 1280, 720, True
        participant.tracks.append(track)
        participant.is_publisher = True
        self._emit(
            "track_published",
            room,
            room=self._minimal_room(room),
            participant=self._minimal_participant(participant),
            track=track,
        )
        return track

    def unpublish(self, *, room: str, identity: str, track_sid: str) -> models.TrackInfo:
        participant = self.get_participant(room=room, identity=identity)
        if not any(t.sid == track_sid for t in participant.tracks):
            raise SimError("not_found", "track does not exist")
        return self._unpublish(self.rooms[room], participant, track_sid)

    def _unpublish(
        self, room: SimRoom, participant: models.ParticipantInfo, track_sid: str
    ) -> models.TrackInfo:
        index = next(i for i, t in enumerate(participant.tracks) if t.sid == track_sid)
        track = models.TrackInfo()
        track.CopyFrom(participant.tracks[index])
        del participant.tracks[index]
        # is_publisher is only ever set to true: it stays until the participant leaves.
        self._emit(
            "track_unpublished",
            room.info.name,
            room=self._minimal_room(room.info.name),
            participant=self._minimal_participant(participant),
            track=track,
        )
        return track

    def set_track_muted(
        self, *, room: str, identity: str, track_sid: str, muted: bool
    ) -> models.TrackInfo:
        """Client-side mute: always allowed."""
        participant = self.get_participant(room=room, identity=identity)
        for track in participant.tracks:
            if track.sid == track_sid:
                track.muted = muted
                return track
        raise SimError("not_found", "track does not exist")

    def mute_published_track(
        self, *, room: str, identity: str, track_sid: str, muted: bool
    ) -> models.TrackInfo | None:
        """RoomService.MutePublishedTrack; the unknown-participant case is the caller's."""
        sim_room = self.get_room(room)
        participant = sim_room.participants[identity]
        if not muted and not sim_room.enable_remote_unmute:
            raise SimError("failed_precondition", "remote unmute not enabled", domain=False)
        for track in participant.tracks:
            if track.sid == track_sid:
                track.muted = muted
                return track
        return None

    # -- data -----------------------------------------------------------------

    def send_data(
        self,
        *,
        room: str,
        data: bytes,
        kind: str,
        topic: str,
        destination_identities: list[str],
        destination_sids: list[str],
        nonce: bytes,
    ) -> None:
        sim_room = self.get_room(room)
        if nonce and len(nonce) != 16:
            raise SimError(
                "invalid_argument",
                f"nonce should be 16-bytes or not present, got: {len(nonce)} bytes",
                domain=False,
            )
        identities = list(destination_identities)
        for sid in destination_sids:
            identities.extend(p.identity for p in sim_room.participants.values() if p.sid == sid)
        self.data_messages.append(DataMessage(room, topic, data, identities, kind))

    # -- egress ---------------------------------------------------------------

    def start_egress(self, *, room: str) -> egress_pb.EgressInfo:
        sim_room = self.get_room(room)
        now_ns = int(self.clock.now() * 1_000_000_000)
        info = egress_pb.EgressInfo(
            egress_id=new_sid("EG_"),
            room_id=sim_room.info.sid,
            room_name=room,
            source_type=egress_pb.EgressSourceType.EGRESS_SOURCE_TYPE_WEB,
            status=egress_pb.EgressStatus.EGRESS_ACTIVE,
            started_at=now_ns,
            updated_at=now_ns,
        )
        info.room_composite.room_name = room
        info.room_composite.layout = "speaker"
        self.egress[info.egress_id] = info
        self._emit(
            "egress_started", info.egress_id, egress_info=info, room=self._minimal_room(room)
        )
        return info

    def get_egress(self, egress_id: str) -> egress_pb.EgressInfo:
        info = self.egress.get(egress_id)
        if info is None:
            raise SimError("not_found", "egress does not exist")
        return info

    def stop_egress(self, *, egress_id: str) -> egress_pb.EgressInfo:
        """Stop a recording; returns the ENDING snapshot, leaves it COMPLETE."""
        info = self.get_egress(egress_id)
        if info.status not in ACTIVE_EGRESS:
            status = egress_pb.EgressStatus.Name(info.status)
            raise SimError(
                "failed_precondition",
                f"egress with status {status} cannot be stopped",
                domain=False,
            )
        now_ns = int(self.clock.now() * 1_000_000_000)
        info.status = egress_pb.EgressStatus.EGRESS_ENDING
        info.updated_at = now_ns
        ending = egress_pb.EgressInfo()
        ending.CopyFrom(info)
        self._emit(
            "egress_updated",
            egress_id,
            egress_info=ending,
            room=self._minimal_room(info.room_name),
        )
        info.status = egress_pb.EgressStatus.EGRESS_COMPLETE
        info.ended_at = now_ns
        info.file_results.add(
            filename=f"{info.room_name}-{egress_id}.mp4",
            started_at=info.started_at,
            ended_at=now_ns,
            duration=now_ns - info.started_at,
        )
        self._emit(
            "egress_ended",
            egress_id,
            egress_info=info,
            room=self._minimal_room(info.room_name),
        )
        return ending

    def list_egress(
        self, *, room_name: str = "", egress_id: str = "", active: bool = False
    ) -> list[egress_pb.EgressInfo]:
        if egress_id:
            self.get_egress(egress_id)
        return [
            e
            for e in self.egress.values()
            if (not room_name or e.room_name == room_name)
            and (not egress_id or e.egress_id == egress_id)
            and (not active or e.status in ACTIVE_EGRESS)
        ]

    # -- ingress --------------------------------------------------------------

    def create_ingress(
        self,
        *,
        room: str,
        name: str = "",
        input_type: str = "RTMP_INPUT",
        participant_identity: str = "",
        participant_name: str = "",
    ) -> ingress_pb.IngressInfo:
        try:
            input_value = ingress_pb.IngressInput.Value(input_type)
        except ValueError:
            raise SimError("invalid_argument", f"unknown input type {input_type!r}") from None
        ingress_id = new_sid("IN_")
        stream_key = new_sid("")
        info = ingress_pb.IngressInfo(
            ingress_id=ingress_id,
            name=name or f"{room} encoder",
            stream_key=stream_key,
            url="rtmp://127.0.0.1:1935/x"
            if input_value == ingress_pb.IngressInput.RTMP_INPUT
            else "http://127.0.0.1:8080/w",
            input_type=input_value,
            room_name=room,
            participant_identity=participant_identity or f"ingress-{stream_key[:6].lower()}",
            participant_name=participant_name or name or "Encoder",
            reusable=input_value == ingress_pb.IngressInput.RTMP_INPUT,
            enabled=True,
        )
        info.state.status = ingress_pb.IngressState.Status.ENDPOINT_INACTIVE
        self.ingress[ingress_id] = info
        return info

    def get_ingress(self, ingress_id: str) -> ingress_pb.IngressInfo:
        info = self.ingress.get(ingress_id)
        if info is None:
            raise SimError("not_found", "ingress does not exist")
        return info

    def publish_ingress(self, *, ingress_id: str) -> ingress_pb.IngressInfo:
        info = self.get_ingress(ingress_id)
        if info.state.status == ingress_pb.IngressState.Status.ENDPOINT_PUBLISHING:
            raise SimError("failed_precondition", "ingress is already publishing")
        self.join(
            room=info.room_name,
            identity=info.participant_identity,
            name=info.participant_name,
            kind="INGRESS",
            publish=["camera", "microphone"],
        )
        now_ns = int(self.clock.now() * 1_000_000_000)
        info.state.status = ingress_pb.IngressState.Status.ENDPOINT_PUBLISHING
        info.state.room_id = self.rooms[info.room_name].info.sid
        info.state.started_at = now_ns
        info.state.updated_at = now_ns
        info.state.ended_at = 0
        info.state.resource_id = new_sid("IR_")
        info.state.video.mime_type = "video/h264"
        info.state.audio.mime_type = "audio/opus"
        self._emit(
            "ingress_started",
            ingress_id,
            ingress_info=info,
            room=self._name_only_room(info.room_name),
        )
        return info

    def end_ingress(self, *, ingress_id: str) -> ingress_pb.IngressInfo:
        info = self.get_ingress(ingress_id)
        if info.state.status != ingress_pb.IngressState.Status.ENDPOINT_PUBLISHING:
            raise SimError("failed_precondition", "ingress is not publishing")
        room = self.rooms.get(info.room_name)
        minimal_room = self._name_only_room(info.room_name)
        if room is not None and info.participant_identity in room.participants:
            self._disconnect(
                room, info.participant_identity, models.DisconnectReason.CLIENT_INITIATED
            )
        now_ns = int(self.clock.now() * 1_000_000_000)
        info.state.status = (
            ingress_pb.IngressState.Status.ENDPOINT_INACTIVE
            if info.reusable
            else ingress_pb.IngressState.Status.ENDPOINT_COMPLETE
        )
        info.state.ended_at = now_ns
        info.state.updated_at = now_ns
        self._emit("ingress_ended", ingress_id, ingress_info=info, room=minimal_room)
        return info

    def list_ingress(
        self, *, room_name: str = "", ingress_id: str = ""
    ) -> list[ingress_pb.IngressInfo]:
        if ingress_id and ingress_id not in self.ingress:
            raise SimError("not_found", "ingress does not exist")
        return [
            i
            for i in self.ingress.values()
            if (not room_name or i.room_name == room_name)
            and (not ingress_id or i.ingress_id == ingress_id)
        ]

    # -- the whole truth, as JSON ---------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "rooms": [room_json(self, room) for room in self.rooms.values()],
            "egress": [egress_json(e) for e in self.egress.values()],
            "ingress": [ingress_json(i) for i in self.ingress.values()],
            "data_messages": [
                {
                    "room": m.room,
                    "topic": m.topic,
                    "payload": m.payload.decode("utf-8", errors="replace"),
                    "destination_identities": m.destination_identities,
                    "kind": m.kind,
                }
                for m in self.data_messages
            ],
            "removed": [
                {"room": r.room, "identity": r.identity, "reason": r.reason} for r in self.removed
            ],
            "observers": observers_json(self),
        }


def track_json(track: models.TrackInfo) -> dict[str, Any]:
    return {
        "sid": track.sid,
        "type": models.TrackType.Name(track.type),
        "source": models.TrackSource.Name(track.source),
        "muted": track.muted,
        "name": track.name,
    }


def participant_json(p: models.ParticipantInfo) -> dict[str, Any]:
    perm = p.permission
    return {
        "sid": p.sid,
        "identity": p.identity,
        "name": p.name,
        "state": models.ParticipantInfo.State.Name(p.state),
        "kind": models.ParticipantInfo.Kind.Name(p.kind),
        "metadata": p.metadata,
        "attributes": dict(p.attributes),
        "permission": {
            "can_publish": perm.can_publish,
            "can_subscribe": perm.can_subscribe,
            "can_publish_data": perm.can_publish_data,
            "can_publish_sources": [models.TrackSource.Name(s) for s in perm.can_publish_sources],
            "hidden": perm.hidden,
            "recorder": perm.recorder,
            "can_update_metadata": perm.can_update_metadata,
            "agent": perm.agent,
        },
        "joined_at": p.joined_at,
        "is_publisher": p.is_publisher,
        "disconnect_reason": models.DisconnectReason.Name(p.disconnect_reason),
        "tracks": [track_json(t) for t in p.tracks],
    }


def room_json(state: SimState, room: SimRoom) -> dict[str, Any]:
    info = state.room_info(room)
    return {
        "sid": info.sid,
        "name": info.name,
        "num_participants": info.num_participants,
        "num_publishers": info.num_publishers,
        "active_recording": info.active_recording,
        "metadata": info.metadata,
        "empty_timeout": info.empty_timeout,
        "departure_timeout": info.departure_timeout,
        "max_participants": info.max_participants,
        "creation_time": info.creation_time,
        "enable_remote_unmute": room.enable_remote_unmute,
        "participants": [participant_json(p) for p in room.participants.values()],
    }


def egress_json(e: egress_pb.EgressInfo) -> dict[str, Any]:
    return {
        "egress_id": e.egress_id,
        "room_name": e.room_name,
        "room_id": e.room_id,
        "status": egress_pb.EgressStatus.Name(e.status),
        "started_at": e.started_at,
        "ended_at": e.ended_at,
    }


def ingress_json(i: ingress_pb.IngressInfo) -> dict[str, Any]:
    return {
        "ingress_id": i.ingress_id,
        "name": i.name,
        "room_name": i.room_name,
        "input_type": ingress_pb.IngressInput.Name(i.input_type),
        "participant_identity": i.participant_identity,
        "participant_name": i.participant_name,
        "stream_key": i.stream_key,
        "url": i.url,
        "status": ingress_pb.IngressState.Status.Name(i.state.status),
        "started_at": i.state.started_at,
        "ended_at": i.state.ended_at,
    }


# -- hidden subscribers joining over /rtc (the console's observers) ------------------


def hidden_join(
    state: SimState,
    *,
    room: str,
    identity: str,
    name: str,
    attributes: dict[str, str],
    grants: dict[str, Any],
) -> models.ParticipantInfo:
    """A client joins over signalling with the token's grants (``video`` claims).

    The permission is the token's, as LiveKit sets it; the participant becomes ACTIVE
    at once (participant_joined fires): the simulator has no media to wait for.
    """
    participant = state.join(
        room=room,
        identity=identity,
        name=name,
        attributes=attributes,
        can_publish=bool(grants.get("canPublish", True)),
        connect=False,
    )
    permission = participant.permission
    permission.can_subscribe = bool(grants.get("canSubscribe", True))
    permission.can_publish = bool(grants.get("canPublish", True))
    permission.can_publish_data = bool(grants.get("canPublishData", True))
    permission.can_update_metadata = bool(grants.get("canUpdateOwnMetadata", False))
    permission.hidden = bool(grants.get("hidden", False))
    return state.connect(room=room, identity=identity)


def observers_json(state: SimState) -> list[dict[str, Any]]:
    """Who is watching which room: every hidden participant that is not egress."""
    return [
        {
            "room": name,
            "identity": p.identity,
            "sid": p.sid,
            "name": p.name,
            "attributes": dict(p.attributes),
            "joined_at": p.joined_at,
        }
        for name, room in state.rooms.items()
        for p in room.participants.values()
        if p.permission.hidden and p.kind != models.ParticipantInfo.Kind.EGRESS
    ]
