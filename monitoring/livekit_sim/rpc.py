"""Server-initiated RPC (RoomService.PerformRpc) and how each simulated app answers it.

A real participant's app answers an RPC with its handler's return value, with an
error, or not at all (LiveKit then fails the call when ``response_timeout_ms`` runs
out). Here each participant session answers as ``/sim/`` was told:

- ``ack`` (the default): ``{"answer": "acknowledged"}``;
- ``refuse``: ``{"answer": "refused"}``;
- ``silent``: no answer, so the call fails with ``deadline_exceeded`` after the
  request's response timeout.

``POST /sim/rooms/{room}/participants/{identity}/rpc {"answer": "ack"|"refuse"|"silent"}``
sets it for the participant's current session (a rejoin starts again at ``ack``);
``GET /sim/rpc`` lists the calls received and how they were answered.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web
from google.protobuf.message import Message
from livekit.protocol import room as room_pb

from . import control
from .auth import require_room_admin
from .state import SimError
from .twirp import handles

if TYPE_CHECKING:
    from .server import SimServer

ANSWERS = ("ack", "refuse", "silent")
PAYLOADS = {"ack": {"answer": "acknowledged"}, "refuse": {"answer": "refused"}}
# LiveKit's own default when a request gives no response timeout.
DEFAULT_RESPONSE_TIMEOUT_MS = 10_000


@dataclass
class RpcCall:
    room: str
    identity: str
    method: str
    payload: str
    answer: str


@dataclass
class RpcClients:
    """Per simulator: the answer setting of each participant session (by sid) and the
    calls received."""

    answers: dict[str, str]
    calls: list[RpcCall]


_clients: dict[int, RpcClients] = {}


def clients(server: SimServer) -> RpcClients:
    return _clients.setdefault(id(server), RpcClients(answers={}, calls=[]))


@handles("RoomService", "PerformRpc")
async def perform_rpc(server: SimServer, req: room_pb.PerformRpcRequest, claims: Any) -> Message:
    require_room_admin(claims, req.room)
    room = server.state.rooms.get(req.room)
    participant = room.participants.get(req.destination_identity) if room else None
    if participant is None:
        # Routed to the node hosting the participant; nobody answers.
        await asyncio.sleep(server.unavailable_delay)
        raise SimError("unavailable", "no response from servers", domain=False)
    registry = clients(server)
    answer = registry.answers.get(participant.sid, "ack")
    registry.calls.append(
        RpcCall(req.room, req.destination_identity, req.method, req.payload, answer)
    )
    if answer == "silent":
        await asyncio.sleep((req.response_timeout_ms or DEFAULT_RESPONSE_TIMEOUT_MS) / 1000)
        raise SimError("deadline_exceeded", "response timeout")
    return room_pb.PerformRpcResponse(payload=json.dumps(PAYLOADS[answer]))


@control.routes.post("/sim/rooms/{room}/participants/{identity}/rpc")
@control.control
async def set_answer(request: web.Request) -> web.StreamResponse:
    data = await control.body(request)
    answer = control.field(data, "answer", str, "")
    if answer not in ANSWERS:
        raise control.BadInput("answer must be one of ack, refuse, silent")
    server = control.sim(request)
    participant = server.state.get_participant(
        room=request.match_info["room"], identity=request.match_info["identity"]
    )
    clients(server).answers[participant.sid] = answer
    return web.json_response({"sid": participant.sid, "answer": answer})


@control.routes.get("/sim/rpc")
@control.control
async def calls(request: web.Request) -> web.StreamResponse:
    return web.json_response([asdict(call) for call in clients(control.sim(request)).calls])
