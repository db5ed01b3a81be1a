"""The simulator's webhooks: LiveKit's shape and signature, delivery, retries and faults."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from livekit import api
from livekit.protocol import models
from livekit.protocol import webhook as webhook_pb

from monitoring.livekit_sim import SimServer
from monitoring.livekit_sim.state import new_sid
from monitoring.livekit_sim.webhooks import WebhookNotifier
from tests.fixtures.livekit import SimHandle


def receiver_for(sim: SimHandle) -> api.WebhookReceiver:
    return api.WebhookReceiver(api.TokenVerifier(sim.api_key, sim.api_secret))


class Receiver:
    """A tiny aiohttp webhook endpoint on its own thread, answering scripted statuses."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.requests: list[dict[str, Any]] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(5)

    async def _start(self) -> str:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hook"

    async def _hook(self, request: web.Request) -> web.Response:
        status = self.statuses.pop(0) if self.statuses else 200
        self.requests.append(
            {
                "body": (await request.read()).decode(),
                "headers": dict(request.headers),
                "status": status,
                "at": time.monotonic(),
            }
        )
        return web.Response(status=status)

    def events(self) -> list[str]:
        return [json.loads(r["body"])["event"] for r in self.requests if r["status"] == 200]

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def receiver():
    endpoint = Receiver()
    yield endpoint
    endpoint.close()


# -- shape and signature --------------------------------------------------------------


def test_a_participant_joined_webhook_verifies_with_livekit_apis_receiver(livekit_sim_bare):
    livekit_sim_bare.join("stage", "host-1", name="Night Owl", attributes={"role": "host"})
    started, joined = livekit_sim_bare.outbox()
    event = receiver_for(livekit_sim_bare).receive(joined["body"], joined["authorization"])
    assert event.event == "participant_joined"
    assert event.room.name == "stage" and event.room.sid.startswith("RM_")
    assert event.participant.identity == "host-1"
    assert event.participant.attributes["role"] == "host"
    assert event.id.startswith("EV_") and len(event.id) == 15
    assert abs(event.created_at - time.time()) < 5
    assert joined["content_type"] == "application/webhook+json"
    assert not joined["authorization"].startswith("Bearer ")
    assert started["event"] == "room_started"


def test_the_body_is_proto3_json_and_the_token_carries_its_sha256(livekit_sim_bare):
    livekit_sim_bare.join("stage", "host-1")
    _, joined = livekit_sim_bare.outbox()
    body = json.loads(joined["body"])
    assert set(body) >= {"event", "room", "participant", "id", "createdAt"}
    assert isinstance(body["createdAt"], str), "int64 travels as a string"
    assert "joinedAt" in body["participant"] and body["participant"]["state"] == "ACTIVE"
    assert "numPublishers" not in body["room"], "zero values are left out"
    claims = jwt.decode(joined["authorization"], livekit_sim_bare.api_secret, algorithms=["HS256"])
    assert claims["iss"] == livekit_sim_bare.api_key
    assert claims["exp"] - claims["iat"] == 300
    assert (
        claims["sha256"]
        == base64.b64encode(hashlib.sha256(joined["body"].encode()).digest()).decode()
    )


def test_forged_or_tampered_webhooks_are_rejected_by_livekit_apis_receiver(livekit_sim_bare):
    livekit_sim_bare.join("stage", "host-1")
    _, joined = livekit_sim_bare.outbox()
    receiver = receiver_for(livekit_sim_bare)
    forger = api.WebhookReceiver(api.TokenVerifier(livekit_sim_bare.api_key, "f" * 40))
    with pytest.raises(jwt.InvalidSignatureError):
        forger.receive(joined["body"], joined["authorization"])
    tampered = joined["body"].replace("host-1", "host-2")
    with pytest.raises(Exception, match="hash mismatch"):
        receiver.receive(tampered, joined["authorization"])
    with pytest.raises(jwt.DecodeError):
        receiver.receive(joined["body"], "Bearer " + joined["authorization"])


def test_track_events_carry_a_minimal_participant_and_the_track(livekit_sim_bare):
    livekit_sim_bare.join("stage", "host-1", metadata="lots of data")
    livekit_sim_bare.clear_outbox()
    track = livekit_sim_bare.publish("stage", "host-1", "camera")
    (published,) = livekit_sim_bare.outbox()
    event = receiver_for(livekit_sim_bare).receive(published["body"], published["authorization"])
    assert event.event == "track_published"
    assert event.track.sid == track["sid"]
    assert event.participant.identity == "host-1" and event.participant.sid.startswith("PA_")
    assert event.participant.metadata == "" and not event.participant.joined_at


def test_egress_events_carry_the_egress_and_a_minimal_room(livekit_sim_bare):
    livekit_sim_bare.join("stage", "host-1")
    livekit_sim_bare.clear_outbox()
    egress = livekit_sim_bare.start_egress("stage")
    assert livekit_sim_bare.room("stage")["active_recording"] is True
    livekit_sim_bare.stop_egress(egress["egress_id"])
    assert livekit_sim_bare.room("stage")["active_recording"] is False
    received = [
        receiver_for(livekit_sim_bare).receive(item["body"], item["authorization"])
        for item in livekit_sim_bare.outbox()
    ]
    assert [e.event for e in received] == ["egress_started", "egress_updated", "egress_ended"]
    assert received[-1].egress_info.status == api.EgressStatus.EGRESS_COMPLETE
    assert received[0].room.name == "stage" and received[0].room.num_participants == 0


def bodies(sim: SimHandle) -> list[dict[str, Any]]:
    return [json.loads(item["body"]) for item in sim.outbox()]


def test_room_finished_carries_no_end_reason(livekit_sim_bare):
    livekit_sim_bare.create_room("stage", empty_timeout=5)
    livekit_sim_bare.clear_outbox()
    livekit_sim_bare.advance(5)
    (finished,) = bodies(livekit_sim_bare)
    assert set(finished) == {"event", "room", "id", "createdAt"}
    assert finished["event"] == "room_finished"


def test_track_events_carry_a_room_of_only_its_sid_and_name(livekit_sim_bare):
    joined = livekit_sim_bare.join("stage", "host-1", metadata="m")
    livekit_sim_bare.clear_outbox()
    track = livekit_sim_bare.publish("stage", "host-1", "camera")
    livekit_sim_bare.unpublish("stage", "host-1", track["sid"])
    sid = livekit_sim_bare.room("stage")["sid"]
    events = bodies(livekit_sim_bare)
    assert [e["event"] for e in events] == ["track_published", "track_unpublished"]
    assert [e["room"] for e in events] == [{"sid": sid, "name": "stage"}] * 2
    assert events[0]["participant"] == {"sid": joined["sid"], "identity": "host-1"}


def test_egress_events_carry_a_room_of_only_its_sid_and_name(livekit_sim_bare):
    livekit_sim_bare.join("stage", "host-1")
    livekit_sim_bare.clear_outbox()
    livekit_sim_bare.start_egress("stage")
    (started,) = bodies(livekit_sim_bare)
    assert started["room"] == {"sid": livekit_sim_bare.room("stage")["sid"], "name": "stage"}


def test_ingress_events_carry_a_room_with_only_its_name(livekit_sim_bare):
    ingress = livekit_sim_bare.create_ingress("stage")
    livekit_sim_bare.publish_ingress(ingress["ingress_id"])
    livekit_sim_bare.end_ingress(ingress["ingress_id"])
    ingress_events = [e for e in bodies(livekit_sim_bare) if e["event"].startswith("ingress_")]
    assert [e["event"] for e in ingress_events] == ["ingress_started", "ingress_ended"]
    assert [e["room"] for e in ingress_events] == [{"name": "stage"}] * 2, "no sid"


def test_a_client_that_never_connected_aborts_instead_of_leaving(livekit_sim_bare):
    livekit_sim_bare.join("stage", "host-1")
    livekit_sim_bare.join("stage", "flaky-1", connect=False)
    livekit_sim_bare.clear_outbox()
    livekit_sim_bare.drop("stage", "flaky-1")
    livekit_sim_bare.join("stage", "viewer-1", connect=False)
    livekit_sim_bare.connect("stage", "viewer-1")
    livekit_sim_bare.drop("stage", "viewer-1")
    assert livekit_sim_bare.events() == [
        "participant_connection_aborted",
        "participant_joined",
        "participant_left",
    ]
    reasons = [r["reason"] for r in livekit_sim_bare.state()["removed"]]
    assert reasons == ["SIGNAL_CLOSE", "SIGNAL_CLOSE"]


def test_joining_twice_replaces_the_first_session_as_a_duplicate_identity(livekit_sim_bare):
    first = livekit_sim_bare.join("stage", "host-1")
    second = livekit_sim_bare.join("stage", "host-1")
    assert first["sid"] != second["sid"]
    assert livekit_sim_bare.events()[-2:] == ["participant_left", "participant_joined"]
    assert livekit_sim_bare.state()["removed"] == [
        {"room": "stage", "identity": "host-1", "reason": "DUPLICATE_IDENTITY"}
    ]
    assert [p["sid"] for p in livekit_sim_bare.room("stage")["participants"]] == [second["sid"]]


# -- HTTP delivery --------------------------------------------------------------------


def test_webhooks_are_posted_like_livekit_and_retried_after_a_500(livekit_sim_bare, receiver):
    receiver.statuses = [500, 503]
    livekit_sim_bare.webhooks(url=receiver.url)
    livekit_sim_bare.create_room("stage")
    livekit_sim_bare.flush()
    assert [r["status"] for r in receiver.requests] == [500, 503, 200]
    delivered = receiver.requests[-1]
    assert delivered["headers"]["Content-Type"] == "application/webhook+json"
    assert delivered["headers"]["User-Agent"] == "LiveKit"
    event = receiver_for(livekit_sim_bare).receive(
        delivered["body"], delivered["headers"]["Authorization"]
    )
    assert event.event == "room_started"
    assert len({json.loads(r["body"])["id"] for r in receiver.requests}) == 1
    outcomes = [(e["outcome"], e["status"]) for e in livekit_sim_bare.webhook_log()]
    assert outcomes == [("retried", 500), ("retried", 503), ("sent", 200)]


def test_a_429_is_retried_but_a_501_or_a_400_is_not(livekit_sim_bare, receiver):
    receiver.statuses = [429, 200, 501, 400]
    livekit_sim_bare.webhooks(url=receiver.url)
    livekit_sim_bare.create_room("one")
    livekit_sim_bare.flush()
    livekit_sim_bare.create_room("two")
    livekit_sim_bare.create_room("three")
    livekit_sim_bare.flush()
    assert [r["status"] for r in receiver.requests] == [429, 200, 501, 400]


def test_an_unreachable_receiver_is_retried_as_a_transport_error(livekit_sim_bare, receiver):
    livekit_sim_bare.webhooks(url="http://127.0.0.1:9/hook")
    livekit_sim_bare.create_room("stage")
    time.sleep(0.15)
    livekit_sim_bare.webhooks(url=receiver.url)
    livekit_sim_bare.flush()
    assert receiver.events() == ["room_started"]
    assert livekit_sim_bare.webhook_log()[0]["outcome"] == "retried"
    assert livekit_sim_bare.webhook_log()[0]["status"] is None


def test_events_keep_their_order_within_a_room(livekit_sim_bare, receiver):
    livekit_sim_bare.webhooks(url=receiver.url)
    livekit_sim_bare.join("stage", "host-1", publish=["audio", "video"])
    for n in range(5):
        livekit_sim_bare.join("stage", f"viewer-{n}")
    livekit_sim_bare.leave("stage", "host-1")
    livekit_sim_bare.flush()
    assert receiver.events() == [
        "room_started",
        "participant_joined",
        "track_published",
        "track_published",
        *["participant_joined"] * 5,
        "track_unpublished",
        "track_unpublished",
        "participant_left",
    ]


@contextlib.asynccontextmanager
async def in_process(
    hook: Any, **server_options: Any
) -> AsyncIterator[tuple[SimServer, aiohttp.ClientSession]]:
    """A `SimServer` on the test's own loop posting to ``hook``, and an HTTP session."""
    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    server = SimServer(
        "key", "s" * 40, webhook_url=f"http://127.0.0.1:{port}/hook", **server_options
    )
    await server.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as http:
            yield server, http
    finally:
        await server.stop()
        await runner.cleanup()


def bare_event(name: str, room: str = "stage") -> webhook_pb.WebhookEvent:
    return webhook_pb.WebhookEvent(event=name, id=new_sid("EV_"), room=models.Room(name=room))


def test_the_backoff_is_1_2_4_seconds_and_so_on_capped_at_30():
    notifier = WebhookNotifier(api_key="key", api_secret="s" * 40)
    assert [notifier.retry_wait(n) for n in range(1, 7)] == [1, 2, 4, 8, 16, 30]


async def test_a_failing_receiver_gets_at_most_five_attempts_with_doubling_waits():
    attempts: list[float] = []

    async def always_failing(request: web.Request) -> web.Response:
        attempts.append(time.monotonic())
        return web.Response(status=500)

    async with in_process(always_failing, webhook_retry_base_seconds=0.05) as (server, _):
        server.state.create_room(name="stage")
        await server.notifier.flush()
        outcomes = [e["outcome"] for e in server.notifier.log]
    waits = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    assert len(attempts) == 5
    assert outcomes == ["retried"] * 4 + ["failed"]
    assert all(wait >= 0.05 * 2**n * 0.9 for n, wait in enumerate(waits)), waits


async def test_a_slow_receiver_is_waited_for_not_sent_the_event_twice():
    seen: list[str] = []

    async def slow(request: web.Request) -> web.Response:
        seen.append(json.loads(await request.read())["id"])
        await asyncio.sleep(5.5)
        return web.Response(status=200)

    async with in_process(slow) as (server, _):
        server.state.create_room(name="stage")
        await server.notifier.flush()
        outcomes = [(e["outcome"], e["status"]) for e in server.notifier.log]
    assert len(seen) == 1, "no client timeout"
    assert outcomes == [("sent", 200)]


async def test_a_queue_holds_at_most_200_events_and_counts_the_ones_it_drops():
    release = asyncio.Event()
    delivered: list[str] = []

    async def blocked(request: web.Request) -> web.Response:
        await release.wait()
        delivered.append(json.loads(await request.read())["event"])
        return web.Response(status=200)

    async with in_process(blocked) as (server, http):
        for _ in range(250):
            server.notifier.enqueue(bare_event("participant_joined"), "stage")
        server.notifier.enqueue(bare_event("egress_started"), "EG_own_queue")
        async with http.get(server.url + "/sim/webhooks/stats") as response:
            stats = await response.json()
        release.set()
        await server.notifier.flush()
    assert stats["num_dropped"] == 50
    assert stats["queued"]["stage"] == 199, "200 held, one of them in flight"
    assert delivered.count("participant_joined") == 200
    assert delivered.count("egress_started") == 1, "the egress id has a queue of its own"


async def test_an_event_taken_off_its_queue_older_than_30_seconds_is_dropped_and_counted():
    """In-process use with a short maximum age: a slow receiver holds the room's queue."""
    received: list[str] = []

    async def slow_first(request: web.Request) -> web.Response:
        event = json.loads(await request.read())["event"]
        received.append(event)
        if event == "room_started":
            await asyncio.sleep(0.8)
        return web.Response(status=200)

    async with in_process(slow_first) as (server, http):
        server.notifier.max_age_seconds = 0.5
        server.state.create_room(name="stage")
        server.state.join(room="stage", identity="host-1")
        await server.notifier.flush()
        async with http.get(server.url + "/sim/webhooks/stats") as response:
            stats = await response.json()
        outcomes = [(e["event"], e["outcome"]) for e in server.notifier.log]
    assert received == ["room_started"]
    assert outcomes == [("room_started", "sent"), ("participant_joined", "expired")]
    assert stats["num_dropped"] == 1


# -- faults -----------------------------------------------------------------------------


def test_drop_mode_loses_deliveries_and_says_so(livekit_sim_bare):
    livekit_sim_bare.webhooks(mode="drop")
    livekit_sim_bare.join("stage", "host-1")
    assert livekit_sim_bare.outbox() == []
    assert [e["outcome"] for e in livekit_sim_bare.webhook_log()] == ["dropped", "dropped"]
    livekit_sim_bare.webhooks(mode="drop", probability=0)
    livekit_sim_bare.join("stage", "viewer-1")
    assert livekit_sim_bare.events() == ["participant_joined"]


def test_duplicate_mode_sends_each_event_twice_with_the_same_id(livekit_sim_bare, receiver):
    livekit_sim_bare.webhooks(url=receiver.url, mode="duplicate")
    livekit_sim_bare.join("stage", "host-1")
    livekit_sim_bare.flush()
    ids = [json.loads(r["body"])["id"] for r in receiver.requests]
    assert receiver.events() == [
        "room_started",
        "room_started",
        "participant_joined",
        "participant_joined",
    ]
    assert ids[0] == ids[1] and ids[2] == ids[3] and ids[0] != ids[2]


def test_delay_mode_delivers_late(livekit_sim_bare, receiver):
    livekit_sim_bare.webhooks(url=receiver.url, mode="delay", delay_ms=300)
    started = time.monotonic()
    livekit_sim_bare.create_room("stage")
    livekit_sim_bare.flush()
    assert receiver.events() == ["room_started"]
    assert receiver.requests[0]["at"] - started >= 0.3
    assert livekit_sim_bare.webhook_log()[0]["outcome"] == "delayed"


def test_reorder_mode_lets_a_later_event_overtake_an_earlier_one(livekit_sim_bare, receiver):
    livekit_sim_bare.create_room("stage")
    livekit_sim_bare.join("stage", "host-1")
    livekit_sim_bare.flush()
    livekit_sim_bare.webhooks(url=receiver.url, mode="reorder")
    livekit_sim_bare.leave("stage", "host-1")
    livekit_sim_bare.join("stage", "host-1")
    livekit_sim_bare.flush()
    assert receiver.events() == ["participant_joined", "participant_left"]


def test_a_held_event_still_goes_out_when_nothing_overtakes_it(livekit_sim_bare):
    livekit_sim_bare.webhooks(mode="reorder")
    livekit_sim_bare.create_room("stage")
    assert livekit_sim_bare.events() == ["room_started"]


def test_the_control_api_refuses_bad_webhook_settings(livekit_sim_bare):
    from tests.fixtures.livekit import SimControlError

    for bad in ({"mode": "chaos"}, {"probability": 2}, {"url": "ftp://x"}, {"delay_ms": -1}):
        with pytest.raises(SimControlError) as refused:
            livekit_sim_bare.webhooks(**bad)
        assert refused.value.status == 400
    assert livekit_sim_bare.webhooks() == {
        "url": None,
        "mode": "normal",
        "probability": 1.0,
        "delay_ms": 500,
    }
