"""LiveKit's signalling endpoint, enough of it for a subscribe-only client: ``/rtc``.

What LiveKit's pkg/service/rtcservice.go does, and this does the same:

- The token comes as ``?access_token=`` (or ``Authorization: Bearer``) and is checked
  by the auth middleware: a bad token is refused with plain-text 401
  ("invalid authorization token: ..."), an unknown key with "invalid API key".
- ``validateInternal``: no video grant -> 401 "no permissions to access the room";
  no ``roomJoin`` -> 401 "permissions denied"; no identity -> 400 "identity cannot be
  empty". The room is the token's ``room`` (the query's ``room`` only when the token
  names none). Errors are written as plain text with no trailing newline.
- A request that is not a websocket upgrade -> 404 with an empty body.
- ``/rtc/validate`` runs the same checks over plain HTTP and answers "success"; the
  JS SDK asks it after a refused upgrade to tell a refused token from an outage, so it
  carries LiveKit's permissive CORS headers.
- After the upgrade the first message is a ``SignalResponse{join}`` (protobuf binary);
  pings are answered with pongs; a ``leave`` request or a closed socket makes the
  participant leave (participant_left, CLIENT_INITIATED). A participant removed by
  the API (or replaced by a new session) is sent ``leave`` and its socket closed.

No media: the join response offers no ICE servers and the server never sends the
subscriber offer, so a client's peer connection never connects. Pages must say
"connected, no media" then.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from aiohttp import WSMsgType, web
from livekit.protocol import models
from livekit.protocol import rtc as rtc_pb

from .appkey import SIM
from .auth import AuthFailure, authenticate
from .state import SimError, hidden_join

SERVER_VERSION = "1.9.0"
PROTOCOL_VERSION = 16
PING_INTERVAL_SECONDS = 5
PING_TIMEOUT_SECONDS = 15
PRESENCE_CHECK_SECONDS = 0.5

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "*",
    "Access-Control-Allow-Methods": "GET, OPTIONS",
}


class Refused(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def _validate(request: web.Request) -> tuple[str, dict[str, Any]]:
    """The room and the token's claims, or `Refused` as LiveKit would answer."""
    server = request.app[SIM]
    token = request.query.get("access_token", "")
    header = f"Bearer {token}" if token else request.headers.get("Authorization")
    try:
        claims = authenticate(header, server.keys)
    except AuthFailure as exc:
        raise Refused(401, str(exc)) from None
    video = claims.get("video") if claims else None
    if not isinstance(video, dict):
        raise Refused(401, "no permissions to access the room")
    if not video.get("roomJoin"):
        raise Refused(401, "permissions denied")
    identity = str(claims.get("sub") or "")
    if not identity:
        raise Refused(400, "identity cannot be empty")
    room = str(video.get("room") or "") or request.query.get("room", "")
    if len(room) > 256:
        raise Refused(400, "room name length exceeds limits: max length 256")
    return room, claims


def _refusal(exc: Refused) -> web.Response:
    return web.Response(
        status=exc.status, text=exc.text, content_type="text/plain", headers=CORS_HEADERS
    )


async def validate(request: web.Request) -> web.StreamResponse:
    if request.method == "OPTIONS":
        return web.Response(status=204, headers=CORS_HEADERS)
    try:
        _validate(request)
    except Refused as exc:
        return _refusal(exc)
    return web.Response(text="success", content_type="text/plain", headers=CORS_HEADERS)


def _join_response(server: Any, room_name: str, me: models.ParticipantInfo) -> bytes:
    state = server.state
    sim_room = state.rooms[room_name]
    others = [
        p
        for identity, p in sim_room.participants.items()
        if identity != me.identity and not p.permission.hidden
    ]
    join = rtc_pb.JoinResponse(
        room=state.room_info(sim_room),
        participant=me,
        other_participants=others,
        server_version=SERVER_VERSION,
        server_region="sim",
        subscriber_primary=True,
        ping_timeout=PING_TIMEOUT_SECONDS,
        ping_interval=PING_INTERVAL_SECONDS,
        server_info=models.ServerInfo(
            edition=models.ServerInfo.Edition.Standard,
            version=SERVER_VERSION,
            protocol=PROTOCOL_VERSION,
            region="sim",
            node_id="roomwatch-sim",
        ),
    )
    return rtc_pb.SignalResponse(join=join).SerializeToString()


def _still_here(server: Any, room: str, identity: str, sid: str) -> bool:
    sim_room = server.state.rooms.get(room)
    current = sim_room.participants.get(identity) if sim_room else None
    return current is not None and current.sid == sid


async def rtc(request: web.Request) -> web.StreamResponse:
    server = request.app[SIM]
    ws = web.WebSocketResponse(protocols=(), autoping=True)
    if not ws.can_prepare(request).ok:
        return web.Response(status=404)
    try:
        room, claims = _validate(request)
    except Refused as exc:
        return _refusal(exc)
    attributes = claims.get("attributes")
    try:
        me = hidden_join(
            server.state,
            room=room,
            identity=str(claims["sub"]),
            name=str(claims.get("name") or ""),
            attributes=dict(attributes) if isinstance(attributes, dict) else {},
            grants=claims["video"],
        )
    except SimError as exc:
        status = 429 if exc.code == "resource_exhausted" else 400
        return web.Response(status=status, text=exc.message, content_type="text/plain")
    await ws.prepare(request)
    identity, sid = me.identity, me.sid
    left_by_server = False
    try:
        await ws.send_bytes(_join_response(server, room, me))
        receiver = asyncio.ensure_future(ws.receive())
        while True:
            done, _ = await asyncio.wait({receiver}, timeout=PRESENCE_CHECK_SECONDS)
            if not _still_here(server, room, identity, sid):
                left_by_server = True
                leave = rtc_pb.LeaveRequest(
                    can_reconnect=False,
                    reason=models.DisconnectReason.PARTICIPANT_REMOVED,
                    action=rtc_pb.LeaveRequest.Action.DISCONNECT,
                )
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await ws.send_bytes(rtc_pb.SignalResponse(leave=leave).SerializeToString())
                receiver.cancel()
                break
            if not done:
                continue
            msg = receiver.result()
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                break
            if msg.type == WSMsgType.BINARY and not await _answer(ws, msg.data):
                break
            receiver = asyncio.ensure_future(ws.receive())
    finally:
        if not left_by_server and _still_here(server, room, identity, sid):
            server.state.leave(
                room=room, identity=identity, reason=models.DisconnectReason.CLIENT_INITIATED
            )
        with contextlib.suppress(Exception):
            await ws.close()
    return ws


async def _answer(ws: web.WebSocketResponse, data: bytes) -> bool:
    """Answer one client request; False when the client leaves."""
    request = rtc_pb.SignalRequest()
    try:
        request.ParseFromString(data)
    except Exception:
        return True  # LiveKit logs and ignores what it cannot parse
    kind = request.WhichOneof("message")
    now_ms = int(time.time() * 1000)
    if kind == "ping":
        await ws.send_bytes(rtc_pb.SignalResponse(pong=now_ms).SerializeToString())
    elif kind == "ping_req":
        pong = rtc_pb.Pong(last_ping_timestamp=request.ping_req.timestamp, timestamp=now_ms)
        await ws.send_bytes(rtc_pb.SignalResponse(pong_resp=pong).SerializeToString())
    elif kind == "leave":
        return False
    return True


def add_routes(app: web.Application) -> None:
    app.router.add_route("GET", "/rtc/validate", validate)
    app.router.add_route("OPTIONS", "/rtc/validate", validate)
    app.router.add_route("GET", "/rtc", rtc)
