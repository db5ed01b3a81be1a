"""The /sim/ control API: drive the simulator as real clients, recorders and encoders would.

JSON in, JSON out, no auth. Errors are `{"error": "..."}` with 400 (bad input),
403 (what a real client may not do, e.g. publish a source its permission does not
allow) or 404 (unknown room, participant, track, egress or ingress).

Names are path segments, percent-encoded: a room or identity may hold any character
LiveKit accepts (`{`, `}`, `/`, `%`, spaces ...).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from livekit.protocol import models

from .appkey import SIM
from .state import (
    SimError,
    egress_json,
    ingress_json,
    participant_json,
    room_json,
    track_json,
)

if TYPE_CHECKING:
    from .server import SimServer

routes = web.RouteTableDef()
# A path segment as it arrives (aiohttp keeps %2F and %25 encoded and unquotes the
# match): any name LiveKit accepts, braces included, not only `[^{}/]+`.
SEGMENT = "[^/]+"
ROOM = "/sim/rooms/{room:" + SEGMENT + "}"
PARTICIPANT = ROOM + "/participants/{identity:" + SEGMENT + "}"
View = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BadInput(Exception):
    pass


CONTROL_STATUS = {"not_found": 404, "permission_denied": 403}


def error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def control(view: View) -> View:
    """Turn bad input and simulator errors into JSON 400/404 answers."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await view(request)
        except BadInput as exc:
            return error(400, str(exc))
        except SimError as exc:
            return error(CONTROL_STATUS.get(exc.code, 400), exc.message)

    return wrapped


async def body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadInput("the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadInput("the request body must be a JSON object")
    return data


def field(data: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value = data.get(name, default)
    if value is default:
        return value
    # bool is an int in Python; refuse it where a number is meant.
    if (kind is int or kind == (int, float)) and isinstance(value, bool):
        raise BadInput(f"{name} must be a number")
    if not isinstance(value, kind):
        expected = (
            kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        )
        raise BadInput(f"{name} must be of type {expected}")
    return value


def non_negative(data: dict[str, Any], name: str) -> int:
    value = field(data, name, int, 0)
    if value < 0:
        raise BadInput(f"{name} must not be negative")
    return value


def sim(request: web.Request) -> SimServer:
    return request.app[SIM]


@routes.post("/sim/reset")
@control
async def reset(request: web.Request) -> web.StreamResponse:
    await sim(request).reset()
    return web.json_response({"ok": True})


@routes.get("/sim/state")
@control
async def state(request: web.Request) -> web.StreamResponse:
    return web.json_response(sim(request).state.snapshot())


@routes.post("/sim/rooms")
@control
async def create_room(request: web.Request) -> web.StreamResponse:
    data = await body(request)
    name = field(data, "name", str, "")
    if not name:
        raise BadInput("name is required")
    server = sim(request)
    room, _ = server.state.create_room(
        name=name,
        empty_timeout=non_negative(data, "empty_timeout"),
        departure_timeout=non_negative(data, "departure_timeout"),
        max_participants=non_negative(data, "max_participants"),
        metadata=field(data, "metadata", str, ""),
        enable_remote_unmute=field(data, "enable_remote_unmute", bool, False),
    )
    return web.json_response(room_json(server.state, room))


@routes.post(ROOM + "/participants")
@control
async def join(request: web.Request) -> web.StreamResponse:
    data = await body(request)
    identity = field(data, "identity", str, "")
    if not identity:
        raise BadInput("identity is required")
    attributes = field(data, "attributes", dict, {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()):
        raise BadInput("attributes must map strings to strings")
    publish = field(data, "publish", list, [])
    if not all(isinstance(s, str) for s in publish):
        raise BadInput("publish must be a list of track sources")
    participant = sim(request).state.join(
        room=request.match_info["room"],
        identity=identity,
        name=field(data, "name", str, ""),
        metadata=field(data, "metadata", str, ""),
        attributes=attributes,
        kind=field(data, "kind", str, "STANDARD"),
        publish=publish,
        can_publish=field(data, "can_publish", bool, True),
        connect=field(data, "connect", bool, True),
        hidden=field(data, "hidden", bool, False),
    )
    return web.json_response(participant_json(participant))


@routes.post(PARTICIPANT + "/connect")
@control
async def connect(request: web.Request) -> web.StreamResponse:
    participant = sim(request).state.connect(
        room=request.match_info["room"], identity=request.match_info["identity"]
    )
    return web.json_response(participant_json(participant))


async def _disconnect(request: web.Request, reason: int) -> web.StreamResponse:
    participant = sim(request).state.leave(
        room=request.match_info["room"], identity=request.match_info["identity"], reason=reason
    )
    return web.json_response(participant_json(participant))


@routes.post(PARTICIPANT + "/leave")
@control
async def leave(request: web.Request) -> web.StreamResponse:
    return await _disconnect(request, models.DisconnectReason.CLIENT_INITIATED)


@routes.post(PARTICIPANT + "/drop")
@control
async def drop(request: web.Request) -> web.StreamResponse:
    """Network loss: the signal connection closed without a goodbye."""
    data = await body(request)
    reason_name = field(data, "reason", str, "SIGNAL_CLOSE")
    try:
        reason = models.DisconnectReason.Value(reason_name)
    except ValueError:
        raise BadInput(f"unknown disconnect reason {reason_name!r}") from None
    return await _disconnect(request, reason)


@routes.post(PARTICIPANT + "/tracks")
@control
async def publish(request: web.Request) -> web.StreamResponse:
    data = await body(request)
    source = field(data, "source", str, "")
    if not source:
        raise BadInput("source is required (camera, microphone or screen_share)")
    track = sim(request).state.publish(
        room=request.match_info["room"],
        identity=request.match_info["identity"],
        source=source,
        muted=field(data, "muted", bool, False),
        name=field(data, "name", str, ""),
    )
    return web.json_response(track_json(track))


@routes.delete(PARTICIPANT + "/tracks/{track:[^/]+}")
@control
async def unpublish(request: web.Request) -> web.StreamResponse:
    track = sim(request).state.unpublish(
        room=request.match_info["room"],
        identity=request.match_info["identity"],
        track_sid=request.match_info["track"],
    )
    return web.json_response(track_json(track))


@routes.post(PARTICIPANT + "/tracks/{track:[^/]+}/mute")
@control
async def mute(request: web.Request) -> web.StreamResponse:
    data = await body(request)
    if not isinstance(data.get("muted"), bool):
        raise BadInput("muted must be true or false")
    track = sim(request).state.set_track_muted(
        room=request.match_info["room"],
        identity=request.match_info["identity"],
        track_sid=request.match_info["track"],
        muted=data["muted"],
    )
    return web.json_response(track_json(track))


@routes.post(ROOM + "/egress")
@control
async def start_egress(request: web.Request) -> web.StreamResponse:
    await body(request)
    info = sim(request).state.start_egress(room=request.match_info["room"])
    return web.json_response(egress_json(info))


@routes.post("/sim/egress/{egress_id:[^/]+}/stop")
@control
async def stop_egress(request: web.Request) -> web.StreamResponse:
    state = sim(request).state
    egress_id = request.match_info["egress_id"]
    state.stop_egress(egress_id=egress_id)
    return web.json_response(egress_json(state.get_egress(egress_id)))


@routes.post(ROOM + "/ingress")
@control
async def create_ingress(request: web.Request) -> web.StreamResponse:
    data = await body(request)
    info = sim(request).state.create_ingress(
        room=request.match_info["room"],
        name=field(data, "name", str, ""),
        input_type=field(data, "input_type", str, "RTMP_INPUT"),
        participant_identity=field(data, "participant_identity", str, ""),
        participant_name=field(data, "participant_name", str, ""),
    )
    return web.json_response(ingress_json(info))


@routes.post("/sim/ingress/{ingress_id:[^/]+}/publish")
@control
async def publish_ingress(request: web.Request) -> web.StreamResponse:
    info = sim(request).state.publish_ingress(ingress_id=request.match_info["ingress_id"])
    return web.json_response(ingress_json(info))


@routes.post("/sim/ingress/{ingress_id:[^/]+}/end")
@control
async def end_ingress(request: web.Request) -> web.StreamResponse:
    info = sim(request).state.end_ingress(ingress_id=request.match_info["ingress_id"])
    return web.json_response(ingress_json(info))


@routes.post("/sim/clock")
@control
async def clock(request: web.Request) -> web.StreamResponse:
    data = await body(request)
    seconds = field(data, "advance_seconds", (int, float), None)
    if seconds is None or seconds < 0:
        raise BadInput("advance_seconds must be a non-negative number")
    server = sim(request)
    server.clock.advance(seconds)
    closed = server.state.check_closing()
    return web.json_response({"now": server.clock.now(), "closed_rooms": closed})


@routes.post("/sim/webhooks")
@control
async def configure_webhooks(request: web.Request) -> web.StreamResponse:
    data = await body(request)
    kwargs: dict[str, Any] = {}
    if "url" in data:
        url = data["url"]
        if url is not None and not (
            isinstance(url, str) and url.startswith(("http://", "https://"))
        ):
            raise BadInput("url must be an http(s) URL or null")
        kwargs["url"] = url
    if "mode" in data:
        kwargs["mode"] = field(data, "mode", str, None)
    if "probability" in data:
        kwargs["probability"] = float(field(data, "probability", (int, float), None))
    if "delay_ms" in data:
        kwargs["delay_ms"] = field(data, "delay_ms", int, None)
    try:
        config = sim(request).notifier.configure(**kwargs)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    return web.json_response(
        {
            "url": config.url,
            "mode": config.mode,
            "probability": config.probability,
            "delay_ms": config.delay_ms,
        }
    )


@routes.get("/sim/webhooks/outbox")
@control
async def outbox(request: web.Request) -> web.StreamResponse:
    return web.json_response(sim(request).notifier.outbox)


@routes.post("/sim/webhooks/outbox/clear")
@control
async def clear_outbox(request: web.Request) -> web.StreamResponse:
    sim(request).notifier.outbox.clear()
    return web.json_response({"ok": True})


@routes.post("/sim/webhooks/flush")
@control
async def flush(request: web.Request) -> web.StreamResponse:
    await sim(request).notifier.flush()
    return web.json_response({"ok": True})


@routes.get("/sim/webhooks/stats")
@control
async def webhook_stats(request: web.Request) -> web.StreamResponse:
    return web.json_response(sim(request).notifier.stats())


@routes.get("/sim/webhooks/log")
@control
async def webhook_log(request: web.Request) -> web.StreamResponse:
    return web.json_response(sim(request).notifier.log)


async def not_found(request: web.Request) -> web.StreamResponse:
    return error(404, f"no such simulator endpoint: {request.method} {request.path}")
