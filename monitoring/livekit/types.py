"""The console's own frozen dataclasses for what LiveKit describes, and the
converters from livekit-api's protobuf messages into them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from livekit import api

ACTIVE_EGRESS_STATUSES = frozenset({"EGRESS_STARTING", "EGRESS_ACTIVE", "EGRESS_ENDING"})


def _enum_name(message: Any, field_name: str) -> str:
    """The name of an enum field's value ("AUDIO"), or its number for unknown values."""
    value = getattr(message, field_name)
    enum_type = message.DESCRIPTOR.fields_by_name[field_name].enum_type
    described = enum_type.values_by_number.get(value)
    return described.name if described is not None else str(value)


def _enum_names(message: Any, field_name: str) -> tuple[str, ...]:
    enum_type = message.DESCRIPTOR.fields_by_name[field_name].enum_type
    names = []
    for value in getattr(message, field_name):
        described = enum_type.values_by_number.get(value)
        names.append(described.name if described is not None else str(value))
    return tuple(names)


def _from_seconds(seconds: int, millis: int = 0) -> datetime | None:
    if millis:
        return datetime.fromtimestamp(millis / 1000, tz=UTC)
    if seconds:
        return datetime.fromtimestamp(seconds, tz=UTC)
    return None


def _from_nanoseconds(nanos: int) -> datetime | None:
    # Egress and ingress times are unix nanoseconds.
    return datetime.fromtimestamp(nanos / 1e9, tz=UTC) if nanos else None


# ---------------------------------------------------------------- our dataclasses


@dataclass(frozen=True)
class TrackInfo:
    sid: str
    type: str  # AUDIO, VIDEO, DATA
    source: str  # CAMERA, MICROPHONE, SCREEN_SHARE, SCREEN_SHARE_AUDIO, UNKNOWN
    name: str = ""
    muted: bool = False
    mime_type: str = ""

    def as_json(self) -> dict[str, Any]:
        """The shape the mirror stores in ``Participant.tracks``."""
        return {
            "sid": self.sid,
            "type": self.type,
            "source": self.source,
            "muted": self.muted,
            "name": self.name,
        }


@dataclass(frozen=True)
class PermissionInfo:
    can_subscribe: bool = True
    can_publish: bool = True
    can_publish_data: bool = True
    can_publish_sources: tuple[str, ...] = ()
    hidden: bool = False
    can_update_metadata: bool = False


@dataclass(frozen=True)
class ParticipantInfo:
    sid: str
    identity: str
    name: str = ""
    state: str = "ACTIVE"  # JOINING, JOINED, ACTIVE, DISCONNECTED
    kind: str = "STANDARD"  # STANDARD, INGRESS, EGRESS, SIP, AGENT, ...
    metadata: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)
    tracks: tuple[TrackInfo, ...] = ()
    joined_at: datetime | None = None
    is_publisher: bool = False
    permission: PermissionInfo | None = None
    disconnect_reason: str = ""  # "" while connected or when LiveKit gives no reason

    @property
    def can_publish(self) -> bool:
        return self.permission is None or self.permission.can_publish

    def track(self, sid: str) -> TrackInfo | None:
        return next((track for track in self.tracks if track.sid == sid), None)


@dataclass(frozen=True)
class RoomInfo:
    sid: str
    name: str
    metadata: str = ""
    num_participants: int = 0
    num_publishers: int = 0
    max_participants: int = 0
    empty_timeout: int = 0
    departure_timeout: int = 0
    active_recording: bool = False
    created_at: datetime | None = None


@dataclass(frozen=True)
class EgressInfo:
    egress_id: str
    room_id: str
    room_name: str
    status: str  # EGRESS_STARTING, EGRESS_ACTIVE, ..., EGRESS_LIMIT_REACHED
    kind: str = ""  # room_composite, web, participant, track_composite, track, ...
    started_at: datetime | None = None
    ended_at: datetime | None = None
    updated_at: datetime | None = None
    error: str = ""
    details: str = ""

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_EGRESS_STATUSES


@dataclass(frozen=True)
class IngressInfo:
    ingress_id: str
    name: str
    room_name: str
    participant_identity: str = ""
    participant_name: str = ""
    input_type: str = ""  # RTMP_INPUT, WHIP_INPUT, URL_INPUT
    state: str = "ENDPOINT_INACTIVE"  # ENDPOINT_BUFFERING, ENDPOINT_PUBLISHING, ...
    error: str = ""
    room_id: str = ""
    started_at: datetime | None = None
    ended_at: datetime | None = None


# -------------------------------------------------- converters from protobuf


def track_from_proto(track: api.TrackInfo) -> TrackInfo:
    return TrackInfo(
        sid=track.sid,
        type=_enum_name(track, "type"),
        source=_enum_name(track, "source"),
        name=track.name,
        muted=track.muted,
        mime_type=track.mime_type,
    )


def permission_from_proto(permission: api.ParticipantPermission) -> PermissionInfo:
    return PermissionInfo(
        can_subscribe=permission.can_subscribe,
        can_publish=permission.can_publish,
        can_publish_data=permission.can_publish_data,
        can_publish_sources=_enum_names(permission, "can_publish_sources"),
        hidden=permission.hidden,
        can_update_metadata=permission.can_update_metadata,
    )


def participant_from_proto(participant: api.ParticipantInfo) -> ParticipantInfo:
    return ParticipantInfo(
        sid=participant.sid,
        identity=participant.identity,
        name=participant.name,
        state=_enum_name(participant, "state"),
        kind=_enum_name(participant, "kind"),
        metadata=participant.metadata,
        attributes=dict(participant.attributes),
        tracks=tuple(track_from_proto(track) for track in participant.tracks),
        joined_at=_from_seconds(participant.joined_at, participant.joined_at_ms),
        is_publisher=participant.is_publisher,
        permission=(
            permission_from_proto(participant.permission)
            if participant.HasField("permission")
            else None
        ),
        # Zero (UNKNOWN_REASON) is what LiveKit sends when there is no reason.
        disconnect_reason=(
            _enum_name(participant, "disconnect_reason") if participant.disconnect_reason else ""
        ),
    )


def room_from_proto(room: api.Room) -> RoomInfo:
    return RoomInfo(
        sid=room.sid,
        name=room.name,
        metadata=room.metadata,
        num_participants=room.num_participants,
        num_publishers=room.num_publishers,
        max_participants=room.max_participants,
        empty_timeout=room.empty_timeout,
        departure_timeout=room.departure_timeout,
        active_recording=room.active_recording,
        created_at=_from_seconds(room.creation_time, room.creation_time_ms),
    )


def egress_from_proto(egress: api.EgressInfo) -> EgressInfo:
    return EgressInfo(
        egress_id=egress.egress_id,
        room_id=egress.room_id,
        room_name=egress.room_name,
        status=_enum_name(egress, "status"),
        kind=egress.WhichOneof("request") or "",
        started_at=_from_nanoseconds(egress.started_at),
        ended_at=_from_nanoseconds(egress.ended_at),
        updated_at=_from_nanoseconds(egress.updated_at),
        error=egress.error,
        details=egress.details,
    )


def ingress_from_proto(ingress: api.IngressInfo) -> IngressInfo:
    state = ingress.state
    has_state = ingress.HasField("state")
    return IngressInfo(
        ingress_id=ingress.ingress_id,
        name=ingress.name,
        room_name=ingress.room_name,
        participant_identity=ingress.participant_identity,
        participant_name=ingress.participant_name,
        input_type=_enum_name(ingress, "input_type"),
        state=_enum_name(state, "status") if has_state else "ENDPOINT_INACTIVE",
        error=state.error if has_state else "",
        room_id=state.room_id if has_state else "",
        started_at=_from_nanoseconds(state.started_at) if has_state else None,
        ended_at=_from_nanoseconds(state.ended_at) if has_state else None,
    )
