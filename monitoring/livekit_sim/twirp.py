"""The Twirp API: routing, auth, body codecs and errors exactly as LiveKit serves them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.json_format import MessageToJson, Parse, ParseError
from google.protobuf.message import DecodeError, Message
from livekit.protocol import egress as egress_pb
from livekit.protocol import ingress as ingress_pb
from livekit.protocol import models
from livekit.protocol import room as room_pb

from .appkey import SIM
from .auth import (
    AuthFailure,
    PermissionsDenied,
    authenticate,
    require_grant,
    require_room_admin,
)
from .state import SimError

if TYPE_CHECKING:
    from .server import SimServer

MAX_BODY_BYTES = 10 * 1024 * 1024
DOMAIN_PREFIX = "twirp error unknown: "
# twirp-go writes exactly this, with no charset (Node's SDK reads `code` only then).
JSON = "application/json"
# MutePublishedTrack to a participant nobody hosts: three psrpc attempts time out.
MUTE_ATTEMPTS = 3
SERVICES = ("RoomService", "Egress", "Ingress")

STATUS = {
    "canceled": 408,
    "unknown": 500,
    "invalid_argument": 400,
    "malformed": 400,
    "deadline_exceeded": 408,
    "not_found": 404,
    "bad_route": 404,
    "already_exists": 409,
    "permission_denied": 403,
    "unauthenticated": 401,
    "resource_exhausted": 429,
    "failed_precondition": 412,
    "aborted": 409,
    "out_of_range": 400,
    "unimplemented": 501,
    "internal": 500,
    "unavailable": 503,
    "dataloss": 500,
}

Handler = Callable[["SimServer", Any, dict[str, Any] | None], Awaitable[Message]]
HANDLERS: dict[tuple[str, str], Handler] = {}


def twirp_error(code: str, msg: str, meta: dict[str, str] | None = None) -> web.Response:
    body: dict[str, Any] = {"code": code, "msg": msg}
    if meta:
        body["meta"] = meta
    return json_answer(STATUS[code], json.dumps(body))


def json_answer(status: int, text: str) -> web.Response:
    """A JSON answer whose Content-Type is exactly `application/json`."""
    return web.Response(status=status, body=text.encode(), headers={"Content-Type": JSON})


def plain_text(status: int, text: str) -> web.Response:
    """A plain-text answer: the error text exactly, with no trailing newline."""
    return web.Response(status=status, text=text, content_type="text/plain")


async def unavailable(server: SimServer, attempts: int = 1) -> SimError:
    """Routed over LiveKit's internal RPC to a node nobody answers from: wait, then 503."""
    await asyncio.sleep(server.unavailable_delay * attempts)
    return SimError("unavailable", "no response from servers")


def _method(service: str, name: str) -> Any:
    return (
        descriptor_pool.Default().FindServiceByName(f"livekit.{service}").methods_by_name.get(name)
    )


def handles(service: str, name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        HANDLERS[(service, name)] = handler
        return handler

    return register


async def _read_body(request: web.Request) -> bytes | None:
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return None
    chunks = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def handle(request: web.Request) -> web.StreamResponse:
    server: SimServer = request.app[SIM]
    try:
        claims = authenticate(request.headers.get("Authorization"), server.keys)
    except AuthFailure as exc:
        return plain_text(401, str(exc))

    path = request.path
    service_name = request.match_info["service"]
    method_name = request.match_info["method"]
    if service_name not in SERVICES:
        return plain_text(404, "404 page not found")
    route_meta = {"twirp_invalid_route": f"{request.method} {path}"}
    if request.method != "POST":
        return twirp_error(
            "bad_route",
            f'unsupported method "{request.method}" (only POST is allowed)',
            route_meta,
        )
    method = _method(service_name, method_name)
    if method is None:
        return twirp_error("bad_route", f'no handler for path "{path}"', route_meta)
    content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type not in ("application/json", "application/protobuf"):
        return twirp_error(
            "bad_route",
            f'unexpected Content-Type: "{request.headers.get("Content-Type", "")}"',
            route_meta,
        )
    body = await _read_body(request)
    if body is None:
        return plain_text(413, "request body too large")
    request_class = message_factory.GetMessageClass(method.input_type)
    is_json = content_type == "application/json"
    try:
        message = (
            Parse(body.decode() or "{}", request_class(), ignore_unknown_fields=True)
            if is_json
            else request_class.FromString(body)
        )
    except (ParseError, DecodeError, UnicodeDecodeError, ValueError):
        kind = "json" if is_json else "protobuf"
        return twirp_error("malformed", f"the {kind} request could not be decoded")

    handler = HANDLERS.get((service_name, method_name))
    if handler is None:
        return twirp_error("unimplemented", f"{method_name} is not supported by the simulator")
    try:
        response = await handler(server, message, claims)
    except PermissionsDenied:
        return twirp_error("unauthenticated", "permissions denied")
    except SimError as exc:
        return twirp_error(exc.code, (DOMAIN_PREFIX if exc.domain else "") + exc.message, exc.meta)
    if is_json:
        text = MessageToJson(
            response,
            preserving_proto_field_name=True,
            always_print_fields_with_no_presence=True,
            indent=None,
        )
        return json_answer(200, text)
    return web.Response(
        status=200, body=response.SerializeToString(), content_type="application/protobuf"
    )


# -- RoomService ---------------------------------------------------------------


@handles("RoomService", "CreateRoom")
async def create_room(server: SimServer, req: room_pb.CreateRoomRequest, claims: Any) -> Message:
    require_grant(claims, "roomCreate")
    room, _ = server.state.create_room(
        name=req.name,
        empty_timeout=req.empty_timeout,
        departure_timeout=req.departure_timeout,
        max_participants=req.max_participants,
        metadata=req.metadata,
    )
    return server.state.room_info(room)


@handles("RoomService", "ListRooms")
async def list_rooms(server: SimServer, req: room_pb.ListRoomsRequest, claims: Any) -> Message:
    require_grant(claims, "roomList")
    names = set(req.names)
    rooms = [
        server.state.room_info(room)
        for name, room in server.state.rooms.items()
        if not names or name in names
    ]
    return room_pb.ListRoomsResponse(rooms=rooms)


@handles("RoomService", "DeleteRoom")
async def delete_room(server: SimServer, req: room_pb.DeleteRoomRequest, claims: Any) -> Message:
    require_grant(claims, "roomCreate")
    server.state.delete_room(room=req.room)
    return room_pb.DeleteRoomResponse()


@handles("RoomService", "ListParticipants")
async def list_participants(
    server: SimServer, req: room_pb.ListParticipantsRequest, claims: Any
) -> Message:
    require_room_admin(claims, req.room)
    room = server.state.rooms.get(req.room)
    participants = list(room.participants.values()) if room else []
    return room_pb.ListParticipantsResponse(participants=participants)


@handles("RoomService", "GetParticipant")
async def get_participant(
    server: SimServer, req: room_pb.RoomParticipantIdentity, claims: Any
) -> Message:
    require_room_admin(claims, req.room)
    return server.state.get_participant(room=req.room, identity=req.identity)


@handles("RoomService", "RemoveParticipant")
async def remove_participant(
    server: SimServer, req: room_pb.RoomParticipantIdentity, claims: Any
) -> Message:
    require_room_admin(claims, req.room)
    server.state.remove_participant(room=req.room, identity=req.identity)
    return room_pb.RemoveParticipantResponse()


@handles("RoomService", "MutePublishedTrack")
async def mute_published_track(
    server: SimServer, req: room_pb.MuteRoomTrackRequest, claims: Any
) -> Message:
    require_room_admin(claims, req.room)
    room = server.state.rooms.get(req.room)
    if room is None or req.identity not in room.participants:
        # Routed to the node hosting the participant; nobody answers any attempt.
        raise await unavailable(server, MUTE_ATTEMPTS)
    track = server.state.mute_published_track(
        room=req.room, identity=req.identity, track_sid=req.track_sid, muted=req.muted
    )
    return room_pb.MuteRoomTrackResponse(track=track) if track else room_pb.MuteRoomTrackResponse()


@handles("RoomService", "UpdateParticipant")
async def update_participant(
    server: SimServer, req: room_pb.UpdateParticipantRequest, claims: Any
) -> Message:
    require_room_admin(claims, req.room)
    return server.state.update_participant(
        room=req.room,
        identity=req.identity,
        name=req.name,
        metadata=req.metadata,
        attributes=dict(req.attributes),
        permission=req.permission if req.HasField("permission") else None,
    )


@handles("RoomService", "UpdateSubscriptions")
async def update_subscriptions(
    server: SimServer, req: room_pb.UpdateSubscriptionsRequest, claims: Any
) -> Message:
    require_room_admin(claims, req.room)
    room = server.state.rooms.get(req.room)
    if room is None or req.identity not in room.participants:
        raise await unavailable(server)
    return room_pb.UpdateSubscriptionsResponse()


@handles("RoomService", "SendData")
async def send_data(server: SimServer, req: room_pb.SendDataRequest, claims: Any) -> Message:
    require_room_admin(claims, req.room)
    if req.nonce and len(req.nonce) != 16:
        raise SimError(
            "invalid_argument",
            f"nonce should be 16-bytes or not present, got: {len(req.nonce)} bytes",
            domain=False,
        )
    if req.room not in server.state.rooms:
        # No existence check: the room's node is asked and nobody answers.
        raise await unavailable(server)
    server.state.send_data(
        room=req.room,
        data=req.data,
        kind=models.DataPacket.Kind.Name(req.kind),
        topic=req.topic,
        destination_identities=list(req.destination_identities),
        destination_sids=list(req.destination_sids),
        nonce=req.nonce,
    )
    return room_pb.SendDataResponse()


@handles("RoomService", "UpdateRoomMetadata")
async def update_room_metadata(
    server: SimServer, req: room_pb.UpdateRoomMetadataRequest, claims: Any
) -> Message:
    require_room_admin(claims, req.room)
    return server.state.update_room_metadata(room=req.room, metadata=req.metadata)


# -- Egress and Ingress --------------------------------------------------------


@handles("Egress", "ListEgress")
async def list_egress(server: SimServer, req: egress_pb.ListEgressRequest, claims: Any) -> Message:
    require_grant(claims, "roomRecord")
    items = server.state.list_egress(
        room_name=req.room_name, egress_id=req.egress_id, active=req.active
    )
    return egress_pb.ListEgressResponse(items=items)


@handles("Egress", "StopEgress")
async def stop_egress(server: SimServer, req: egress_pb.StopEgressRequest, claims: Any) -> Message:
    require_grant(claims, "roomRecord")
    return server.state.stop_egress(egress_id=req.egress_id)


@handles("Ingress", "ListIngress")
async def list_ingress(
    server: SimServer, req: ingress_pb.ListIngressRequest, claims: Any
) -> Message:
    require_grant(claims, "ingressAdmin")
    items = server.state.list_ingress(room_name=req.room_name, ingress_id=req.ingress_id)
    return ingress_pb.ListIngressResponse(items=items)


# Registers RoomService.PerformRpc and its /sim/ controls (a module of its own).
from . import rpc  # noqa: E402, F401
