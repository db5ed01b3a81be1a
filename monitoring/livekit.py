"""The LiveKit gateway: the only module of the console that imports ``livekit.api``.

Every function is async and keyword-only, takes its credentials from Django settings
(never from LiveKit's own ``LIVEKIT_*`` environment fallbacks) and returns the
console's own frozen dataclasses. Any failure - a Twirp error, a timeout, a refused
connection - is raised as :class:`LiveKitError`, whose message a moderator can read
and which keeps LiveKit's Twirp code and HTTP status for logs and audit rows.

Sync callers use ``asgiref.sync.async_to_sync``. One aiohttp session is kept per
event loop and closed when that loop shuts down its async generators (as
``asyncio.run`` and ``async_to_sync`` do), so calls share connections without
leaking sessions across loops.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp
from django.conf import settings
from google.protobuf.message import DecodeError
from livekit import api

T = TypeVar("T")

# The real server prefixes domain errors with this; it means nothing to a moderator.
_TWIRP_PREFIX = "twirp error unknown: "
ACTIVE_EGRESS_STATUSES = frozenset({"EGRESS_STARTING", "EGRESS_ACTIVE", "EGRESS_ENDING"})
# A ListRooms for a name no room has: proves reachability and credentials cheaply.
_PING_ROOM = "roomwatch-healthcheck"


# --------------------------------------------------------------------------- errors


class LiveKitError(Exception):
    """A LiveKit call failed.

    ``str(error)`` is a sentence for a moderator. ``code`` is the Twirp code
    (``"unavailable"`` / ``"deadline_exceeded"`` when LiveKit gave no answer at all),
    ``status`` the HTTP status (0 when there was no HTTP answer) and ``detail`` what
    LiveKit itself said, for logs and audit rows.
    """

    def __init__(
        self,
        message: str,
        code: str = "unavailable",
        status: int = 0,
        *,
        detail: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.detail = detail

    def __repr__(self) -> str:
        return (
            f"LiveKitError({self.message!r}, code={self.code!r}, status={self.status}, "
            f"detail={self.detail!r})"
        )

    @property
    def is_not_found(self) -> bool:
        return self.code == "not_found" or (self.status == 404 and self.code != "bad_route")

    @property
    def is_unreachable(self) -> bool:
        """LiveKit gave no HTTP answer (connection refused, DNS, reset...)."""
        return self.status == 0 and self.code == "unavailable"

    @property
    def is_timeout(self) -> bool:
        return self.code == "deadline_exceeded"

    @property
    def is_auth_error(self) -> bool:
        return self.status in (401, 403) or self.code in ("unauthenticated", "permission_denied")

    @property
    def is_precondition_failed(self) -> bool:
        return self.code == "failed_precondition" or self.status == 412

    @property
    def is_transient(self) -> bool:
        """Worth retrying later: no answer, a timeout, rate limiting or a server error."""
        return self.status == 0 or self.status == 429 or self.status >= 500


def _error_from_server(exc: api.ServerError, *, not_found: str) -> LiveKitError:
    code, status = exc.code or "unknown", exc.status
    detail = (exc.message or "").removeprefix(_TWIRP_PREFIX)
    lowered = detail.lower()
    if status == 401 or code == "unauthenticated":
        message = "LiveKit refused the console's credentials."
    elif status == 403 or code == "permission_denied":
        message = "The console's LiveKit key is not allowed to do this."
    elif code == "bad_route":
        message = "The LiveKit URL does not point at a LiveKit server the console understands."
    elif status == 404 or code == "not_found":
        if "room" in lowered and "participant" not in lowered:
            message = "The room no longer exists in LiveKit."
        elif "participant" in lowered:
            message = "The participant is no longer in the room."
        else:
            message = not_found
    elif code == "failed_precondition" or status == 412:
        if "remote unmute" in lowered:
            message = "Remote unmute is not enabled for this room."
        elif "cannot be stopped" in lowered:
            message = "The recording has already ended."
        else:
            message = f"LiveKit refused the action: {detail or code}."
    elif status == 400 or code in ("invalid_argument", "malformed", "out_of_range"):
        message = f"LiveKit rejected the request: {detail or code}."
    elif status == 413:
        message = "The request is too large for LiveKit."
    elif status == 429 or code == "resource_exhausted":
        message = "LiveKit is rate limiting the console; try again shortly."
    elif code == "unavailable" and "no response" in lowered:
        message = "LiveKit got no answer for this participant; they may have left the room."
    elif code == "unavailable" or status == 503:
        message = "LiveKit is unavailable right now."
    elif code in ("deadline_exceeded", "canceled"):
        message = "LiveKit gave up on the request before it finished."
    else:
        message = f"LiveKit failed ({status} {code}): {detail or 'no details'}."
    return LiveKitError(message, code, status, detail=detail)


def _timeout_seconds() -> float:
    return float(settings.LIVEKIT_TIMEOUT_SECONDS)


def _format_seconds(seconds: float) -> str:
    return f"{seconds:g} s"


async def _call(
    request: Callable[[api.LiveKitAPI], Awaitable[T]],
    *,
    not_found: str = "LiveKit does not know this object.",
) -> T:
    """Run one request with the console's credentials, deadline and error mapping."""
    timeout = _timeout_seconds()
    url, key, secret = (
        settings.LIVEKIT_URL,
        settings.LIVEKIT_API_KEY,
        settings.LIVEKIT_API_SECRET,
    )
    if not (url and key and secret):
        # Empty values would make livekit-api fall back to the process environment.
        raise LiveKitError(
            "The console has no LiveKit URL, API key and secret configured.", "unknown", 0
        )
    client = api.LiveKitAPI(url, key, secret, session=await _session())
    try:
        async with asyncio.timeout(timeout):
            return await request(client)
    except api.ServerError as exc:
        raise _error_from_server(exc, not_found=not_found) from exc
    except TimeoutError as exc:  # asyncio's deadline and aiohttp's socket timeouts
        raise LiveKitError(
            f"LiveKit did not answer within {_format_seconds(timeout)}.",
            "deadline_exceeded",
            0,
            detail=str(exc) or type(exc).__name__,
        ) from exc
    except aiohttp.ClientResponseError as exc:
        raise LiveKitError(
            f"LiveKit sent an answer the console cannot read (HTTP {exc.status}).",
            "unknown",
            exc.status,
            detail=str(exc),
        ) from exc
    except aiohttp.ClientError as exc:
        raise LiveKitError(
            "LiveKit cannot be reached.", "unavailable", 0, detail=str(exc) or type(exc).__name__
        ) from exc
    except DecodeError as exc:
        raise LiveKitError(
            "LiveKit sent an answer the console cannot read.", "malformed", 200, detail=str(exc)
        ) from exc


# --------------------------------------------------------------- session per loop


@dataclass
class _LoopSession:
    session: aiohttp.ClientSession
    closer: AsyncIterator[None]


_sessions: dict[asyncio.AbstractEventLoop, _LoopSession] = {}


async def _close_with_loop(session: aiohttp.ClientSession) -> AsyncIterator[None]:
    # An async generator started on a loop is finalised by that loop's
    # shutdown_asyncgens(), which asyncio.run() and async_to_sync() call: it is the
    # hook that closes the session before its loop goes away.
    try:
        yield
    finally:
        if not session.closed:
            await session.close()


async def _session() -> aiohttp.ClientSession:
    loop = asyncio.get_running_loop()
    # Forget the entries of loops that have finished: their sessions were closed
    # when the loop shut down its async generators.
    for finished in [known for known in list(_sessions) if known.is_closed()]:
        _sessions.pop(finished, None)
    entry = _sessions.get(loop)
    if entry is not None and not entry.session.closed:
        return entry.session
    session = aiohttp.ClientSession()
    closer = _close_with_loop(session)
    await closer.__anext__()
    _sessions[loop] = _LoopSession(session=session, closer=closer)
    return session


async def close_session() -> None:
    """Close this event loop's LiveKit session now (a new one is made on next use)."""
    entry = _sessions.pop(asyncio.get_running_loop(), None)
    if entry is not None:
        await entry.closer.aclose()


# ---------------------------------------------------------------- our dataclasses


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


# ------------------------------------------------------------------ the calls

_NO_ROOM = "The room no longer exists in LiveKit."
_NO_PARTICIPANT = "The participant is no longer in the room."


async def ping() -> None:
    """Raise ``LiveKitError`` unless LiveKit answers an authenticated ListRooms."""
    await _call(lambda lk: lk.room.list_rooms(api.ListRoomsRequest(names=[_PING_ROOM])))


async def list_rooms(*, names: Iterable[str] | None = None) -> list[RoomInfo]:
    """Every open room, or only those of ``names`` that exist (unknown names are left out)."""
    request = api.ListRoomsRequest(names=list(names or ()))
    response = await _call(lambda lk: lk.room.list_rooms(request))
    return [room_from_proto(room) for room in response.rooms]


async def list_participants(*, room: str) -> list[ParticipantInfo]:
    """The participants of ``room``; an unknown room has none (LiveKit answers 200)."""
    request = api.ListParticipantsRequest(room=room)
    response = await _call(lambda lk: lk.room.list_participants(request), not_found=_NO_ROOM)
    return [participant_from_proto(p) for p in response.participants]


async def get_participant(*, room: str, identity: str) -> ParticipantInfo:
    request = api.RoomParticipantIdentity(room=room, identity=identity)
    participant = await _call(
        lambda lk: lk.room.get_participant(request), not_found=_NO_PARTICIPANT
    )
    return participant_from_proto(participant)


async def list_egress(*, room: str | None = None, active: bool | None = None) -> list[EgressInfo]:
    """Recordings and streams, optionally of one room; ``active`` True/False filters."""
    request = api.ListEgressRequest(room_name=room or "", active=bool(active))
    response = await _call(lambda lk: lk.egress.list_egress(request))
    items = [egress_from_proto(item) for item in response.items]
    if active is False:
        items = [item for item in items if not item.is_active]
    return items


async def list_ingress(*, room: str | None = None) -> list[IngressInfo]:
    request = api.ListIngressRequest(room_name=room or "")
    response = await _call(lambda lk: lk.ingress.list_ingress(request))
    return [ingress_from_proto(item) for item in response.items]


async def delete_room(*, room: str) -> None:
    """Close ``room``: LiveKit disconnects everyone in it."""
    request = api.DeleteRoomRequest(room=room)
    await _call(lambda lk: lk.room.delete_room(request), not_found=_NO_ROOM)


async def remove_participant(*, room: str, identity: str) -> None:
    """Disconnect a participant. LiveKit does not revoke its token: it can rejoin."""
    request = api.RoomParticipantIdentity(room=room, identity=identity)
    await _call(lambda lk: lk.room.remove_participant(request), not_found=_NO_PARTICIPANT)


async def mute_track(*, room: str, identity: str, track_sid: str, muted: bool) -> TrackInfo | None:
    """Mute (or, where the room allows remote unmute, unmute) one published track.

    Returns the updated track, or None when LiveKit does not know ``track_sid``.
    """
    request = api.MuteRoomTrackRequest(
        room=room, identity=identity, track_sid=track_sid, muted=muted
    )
    response = await _call(
        lambda lk: lk.room.mute_published_track(request), not_found=_NO_PARTICIPANT
    )
    return track_from_proto(response.track) if response.HasField("track") else None


async def update_permissions(
    *,
    room: str,
    identity: str,
    can_publish: bool | None = None,
    can_subscribe: bool | None = None,
    can_publish_data: bool | None = None,
    can_publish_sources: Iterable[str] | None = None,
    hidden: bool | None = None,
) -> ParticipantInfo:
    """Change a participant's permissions; ``None`` keeps the current value.

    LiveKit replaces *every* permission field when a permission is sent, so the
    participant's current permission is read first and sent back in full with only
    the requested fields changed. ``can_publish=False`` unpublishes its tracks.
    """
    current = await _call(
        lambda lk: lk.room.get_participant(
            api.RoomParticipantIdentity(room=room, identity=identity)
        ),
        not_found=_NO_PARTICIPANT,
    )
    permission = api.ParticipantPermission()
    if current.HasField("permission"):
        permission.CopyFrom(current.permission)
    else:
        permission.can_subscribe = permission.can_publish = permission.can_publish_data = True
    if can_publish is not None:
        permission.can_publish = can_publish
    if can_subscribe is not None:
        permission.can_subscribe = can_subscribe
    if can_publish_data is not None:
        permission.can_publish_data = can_publish_data
    if hidden is not None:
        permission.hidden = hidden
    if can_publish_sources is not None:
        try:
            sources = [api.TrackSource.Value(source) for source in can_publish_sources]
        except ValueError as exc:
            raise LiveKitError(
                f"Unknown track source: {exc}", "invalid_argument", 0, detail=str(exc)
            ) from exc
        del permission.can_publish_sources[:]
        permission.can_publish_sources.extend(sources)
    request = api.UpdateParticipantRequest(room=room, identity=identity, permission=permission)
    updated = await _call(lambda lk: lk.room.update_participant(request), not_found=_NO_PARTICIPANT)
    return participant_from_proto(updated)


async def send_data(
    *,
    room: str,
    payload: bytes | Mapping[str, Any],
    topic: str | None = None,
    destination_identities: Iterable[str] | None = None,
) -> None:
    """Send a reliable data message to everyone in ``room`` or to some identities.

    A mapping is sent as compact UTF-8 JSON.
    """
    if isinstance(payload, bytes):
        data = payload
    else:
        data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    request = api.SendDataRequest(
        room=room,
        data=data,
        kind=api.DataPacket.Kind.RELIABLE,
        destination_identities=list(destination_identities or ()),
    )
    if topic:
        request.topic = topic
    await _call(lambda lk: lk.room.send_data(request), not_found=_NO_ROOM)


async def update_room_metadata(*, room: str, metadata: str) -> RoomInfo:
    request = api.UpdateRoomMetadataRequest(room=room, metadata=metadata)
    updated = await _call(lambda lk: lk.room.update_room_metadata(request), not_found=_NO_ROOM)
    return room_from_proto(updated)


async def stop_egress(*, egress_id: str) -> EgressInfo:
    request = api.StopEgressRequest(egress_id=egress_id)
    stopped = await _call(
        lambda lk: lk.egress.stop_egress(request),
        not_found="The recording no longer exists in LiveKit.",
    )
    return egress_from_proto(stopped)


# ------------------------------------------------------------------- webhooks


@dataclass(frozen=True)
class WebhookEvent:
    """A verified LiveKit webhook, in the console's dataclasses."""

    id: str
    event: str
    created_at: datetime
    room: RoomInfo | None = None
    participant: ParticipantInfo | None = None
    track: TrackInfo | None = None
    egress: EgressInfo | None = None
    ingress: IngressInfo | None = None


class WebhookRejected(Exception):
    """A webhook that is unsigned, forged, tampered with, expired or unreadable."""


def webhook_receive(body: str, authorization: str) -> WebhookEvent:
    """Verify a webhook's signature against the raw body and parse it.

    Raises :class:`WebhookRejected` with a sentence saying why when the token is
    missing, not signed with the console's key and secret, expired, or its sha256
    claim does not match the body; and ``ValueError`` when the signed body is not a
    LiveKit webhook event.
    """
    from google.protobuf.json_format import ParseError

    if not authorization:
        raise WebhookRejected("The webhook is not signed (no Authorization header).")
    verifier = api.TokenVerifier(settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET)
    receiver = api.WebhookReceiver(verifier)
    try:
        # Verified once here to tell a bad token from a bad body; receive() checks
        # the token again together with the body hash.
        claims = verifier.verify(authorization)
    except Exception as exc:  # PyJWT raises many kinds; all mean "not ours"
        raise WebhookRejected(f"The webhook's signature is not valid: {exc}.") from exc
    if not claims.sha256:
        raise WebhookRejected("The webhook's token carries no body hash.")
    try:
        proto = receiver.receive(body, authorization)
    except ParseError as exc:
        raise ValueError(f"The body is not a LiveKit webhook event: {exc}") from exc
    except Exception as exc:
        raise WebhookRejected("The webhook's body does not match its signature.") from exc
    created = datetime.fromtimestamp(proto.created_at, tz=UTC) if proto.created_at else None
    return WebhookEvent(
        id=proto.id,
        event=proto.event,
        created_at=created or datetime.now(tz=UTC),
        room=room_from_proto(proto.room) if proto.HasField("room") else None,
        participant=(
            participant_from_proto(proto.participant) if proto.HasField("participant") else None
        ),
        track=track_from_proto(proto.track) if proto.HasField("track") else None,
        egress=egress_from_proto(proto.egress_info) if proto.HasField("egress_info") else None,
        ingress=(
            ingress_from_proto(proto.ingress_info) if proto.HasField("ingress_info") else None
        ),
    )
