"""The calls: one aiohttp session per event loop, the console's credentials and
deadline on every request, and every failure raised as ``LiveKitError``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from django.conf import settings
from google.protobuf.message import DecodeError
from livekit import api

from monitoring import metrics
from monitoring.livekit.errors import NO_PARTICIPANT, NO_ROOM, LiveKitError, error_from_server
from monitoring.livekit.types import (
    EgressInfo,
    IngressInfo,
    ParticipantInfo,
    RoomInfo,
    TrackInfo,
    egress_from_proto,
    ingress_from_proto,
    participant_from_proto,
    room_from_proto,
    track_from_proto,
)

T = TypeVar("T")

# A ListRooms for a name no room has: proves reachability and credentials cheaply.
_PING_ROOM = "roomwatch-healthcheck"


def _timeout_seconds() -> float:
    return float(settings.LIVEKIT_TIMEOUT_SECONDS)


def _format_seconds(seconds: float) -> str:
    return f"{seconds:g} s"


@metrics.timed_livekit_call
async def _call(
    request: Callable[[api.LiveKitAPI], Awaitable[T]],
    *,
    not_found: str = "LiveKit does not know this object.",
    timeout: float | None = None,
) -> T:
    """Run one request with the console's credentials, deadline and error mapping
    (``timeout`` overrides the deadline, for calls that wait on a participant)."""
    timeout = timeout or _timeout_seconds()
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
        raise error_from_server(exc, not_found=not_found) from exc
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


# ------------------------------------------------------------------ the calls


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
    response = await _call(lambda lk: lk.room.list_participants(request), not_found=NO_ROOM)
    return [participant_from_proto(p) for p in response.participants]


async def _participant_proto(*, room: str, identity: str) -> api.ParticipantInfo:
    request = api.RoomParticipantIdentity(room=room, identity=identity)
    return await _call(lambda lk: lk.room.get_participant(request), not_found=NO_PARTICIPANT)


async def get_participant(*, room: str, identity: str) -> ParticipantInfo:
    return participant_from_proto(await _participant_proto(room=room, identity=identity))


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
    await _call(lambda lk: lk.room.delete_room(request), not_found=NO_ROOM)


async def remove_participant(*, room: str, identity: str) -> None:
    """Disconnect a participant. LiveKit does not revoke its token: it can rejoin."""
    request = api.RoomParticipantIdentity(room=room, identity=identity)
    await _call(lambda lk: lk.room.remove_participant(request), not_found=NO_PARTICIPANT)


async def mute_track(*, room: str, identity: str, track_sid: str, muted: bool) -> TrackInfo | None:
    """Mute (or, where the room allows remote unmute, unmute) one published track.

    Returns the updated track, or None when LiveKit does not know ``track_sid``.
    """
    request = api.MuteRoomTrackRequest(
        room=room, identity=identity, track_sid=track_sid, muted=muted
    )
    response = await _call(
        lambda lk: lk.room.mute_published_track(request), not_found=NO_PARTICIPANT
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
    current = await _participant_proto(room=room, identity=identity)
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
    updated = await _call(lambda lk: lk.room.update_participant(request), not_found=NO_PARTICIPANT)
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
    await _call(lambda lk: lk.room.send_data(request), not_found=NO_ROOM)


async def update_room_metadata(*, room: str, metadata: str) -> RoomInfo:
    request = api.UpdateRoomMetadataRequest(room=room, metadata=metadata)
    updated = await _call(lambda lk: lk.room.update_room_metadata(request), not_found=NO_ROOM)
    return room_from_proto(updated)


async def stop_egress(*, egress_id: str) -> EgressInfo:
    request = api.StopEgressRequest(egress_id=egress_id)
    stopped = await _call(
        lambda lk: lk.egress.stop_egress(request),
        not_found="The recording no longer exists in LiveKit.",
    )
    return egress_from_proto(stopped)
