"""Webhook delivery shaped, signed and queued like LiveKit's, with fault injection.

Each event is serialized once (proto3 JSON of `WebhookEvent`) and signed at send
time with a raw JWT carrying the body's sha256. Deliveries are queued per key
(room name, or egress/ingress id) so order holds within a room, as LiveKit's
notifier on go-retryablehttp's defaults does: transport errors, 5xx (but not 501)
and 429 are retried with backoff 1 s, 2 s, 4 s ... (at most 30 s), at most 5
attempts; there is no client timeout (a slow receiver holds its queue up); a
queue holds at most 200 events (a new one is dropped when full); an event taken
off its queue more than 30 s after it was queued is dropped. Both drops are
counted in ``num_dropped`` (GET /sim/webhooks/stats).

Faults (`drop`, `duplicate`, `delay`, `reorder`) apply with a probability to the
deliveries queued after they are configured. Without a URL, deliveries are
captured in an outbox, faults included, so tests can read exactly what a
receiver would have been sent.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import jwt
from google.protobuf.json_format import MessageToJson
from livekit.protocol import webhook as webhook_pb

CONTENT_TYPE = "application/webhook+json"
USER_AGENT = "LiveKit"
MAX_AGE_SECONDS = 30.0
MAX_ATTEMPTS = 5
MAX_QUEUE = 200
# go-retryablehttp's RetryWaitMax, relative to a RetryWaitMin of 1 s.
MAX_BACKOFF_FACTOR = 30
TOKEN_TTL_SECONDS = 5 * 60
MODES = ("normal", "drop", "duplicate", "delay", "reorder")
# A held (reordered) event goes out on its own if nothing overtakes it by then.
REORDER_HOLD_SECONDS = 1.0
# A long demo run without a receiver must not grow without bound.
MAX_KEPT = 2000


def sign(body: str, *, api_key: str, api_secret: str) -> str:
    """The raw JWT LiveKit puts in the Authorization header (no `Bearer `)."""
    now = int(time.time())
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    claims = {"iss": api_key, "iat": now, "nbf": now, "exp": now + TOKEN_TTL_SECONDS}
    claims["sha256"] = digest
    return jwt.encode(claims, api_secret, algorithm="HS256")


def event_body(event: webhook_pb.WebhookEvent) -> str:
    return MessageToJson(event, indent=None)


@dataclass
class Delivery:
    event: webhook_pb.WebhookEvent
    key: str
    body: str
    queued_at: float = field(default_factory=time.monotonic)
    duplicate: bool = False
    delay: float = 0.0

    @property
    def room(self) -> str:
        return (
            self.event.room.name
            or self.event.egress_info.room_name
            or (self.event.ingress_info.room_name)
        )


@dataclass
class WebhookConfig:
    url: str | None = None
    mode: str = "normal"
    probability: float = 1.0
    delay_ms: int = 500


class WebhookNotifier:
    def __init__(
        self,
        *,
        api_key: str,
        api_secret: str,
        url: str | None = None,
        retry_base_seconds: float = 1.0,
        max_age_seconds: float = MAX_AGE_SECONDS,
    ) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.default_url = url
        self.retry_base_seconds = retry_base_seconds
        self.max_age_seconds = max_age_seconds
        self.config = WebhookConfig(url=url)
        self.outbox: list[dict[str, Any]] = []
        self.log: list[dict[str, Any]] = []
        self._queues: dict[str, deque[Delivery]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._held: dict[str, Delivery] = {}
        self._pending = 0
        self._generation = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._session: aiohttp.ClientSession | None = None
        self._random = random.Random()
        self.num_dropped = 0

    # -- configuration --------------------------------------------------------

    def configure(
        self,
        *,
        url: str | type[Ellipsis] | None = ...,
        mode: str | None = None,
        probability: float | None = None,
        delay_ms: int | None = None,
    ) -> WebhookConfig:
        if mode is not None and mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if probability is not None and not 0 <= probability <= 1:
            raise ValueError("probability must be between 0 and 1")
        if delay_ms is not None and delay_ms < 0:
            raise ValueError("delay_ms must not be negative")
        if url is not ...:
            self.config.url = url  # type: ignore[assignment]
        if mode is not None:
            self.config.mode = mode
        if probability is not None:
            self.config.probability = probability
        if delay_ms is not None:
            self.config.delay_ms = delay_ms
        return self.config

    async def reset(self) -> None:
        for task in self._workers.values():
            task.cancel()
        self._workers.clear()
        self._queues.clear()
        self._held.clear()
        self._generation += 1
        self._pending = 0
        self._idle.set()
        self.config = WebhookConfig(url=self.default_url)
        self.outbox.clear()
        self.log.clear()
        self.num_dropped = 0

    async def close(self) -> None:
        await self.reset()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- queueing -------------------------------------------------------------

    def enqueue(self, event: webhook_pb.WebhookEvent, key: str) -> None:
        """Called by the state on every change (inside the simulator's loop)."""
        delivery = Delivery(event=event, key=key, body=event_body(event))
        mode = self.config.mode
        faulty = mode != "normal" and self._random.random() < self.config.probability
        if faulty and mode == "drop":
            self._record(delivery, "dropped")
            return
        if faulty and mode == "duplicate":
            delivery.duplicate = True
        if faulty and mode == "delay":
            delivery.delay = self.config.delay_ms / 1000
        if faulty and mode == "reorder" and key not in self._held:
            self._held[key] = delivery
            self._pending += 1
            self._idle.clear()
            self._record(delivery, "held")
            asyncio.get_running_loop().call_later(
                REORDER_HOLD_SECONDS, self._release, key, delivery
            )
            return
        self._put(delivery)
        held = self._held.pop(key, None)
        if held is not None:
            self._pending -= 1
            self._record(held, "reordered")
            self._put(held)

    def _release(self, key: str, delivery: Delivery) -> None:
        if self._held.get(key) is delivery:
            del self._held[key]
            self._pending -= 1
            self._put(delivery)

    def _put(self, delivery: Delivery) -> None:
        queue = self._queues.get(delivery.key)
        if queue is not None and len(queue) >= MAX_QUEUE:
            self.num_dropped += 1
            self._record(delivery, "queue_full")
            return
        self._pending += 1
        self._idle.clear()
        self._queues.setdefault(delivery.key, deque()).append(delivery)
        if delivery.key not in self._workers:
            self._workers[delivery.key] = asyncio.get_running_loop().create_task(
                self._work(delivery.key)
            )

    async def _work(self, key: str) -> None:
        queue = self._queues[key]
        generation = self._generation
        try:
            while queue:
                delivery = queue.popleft()
                try:
                    await self._deliver(delivery)
                finally:
                    if generation == self._generation:
                        self._done()
        finally:
            # No await between the emptiness check and here: a new put sees no worker.
            if self._workers.get(key) is asyncio.current_task():
                del self._workers[key]
                if not queue:
                    self._queues.pop(key, None)

    def _done(self) -> None:
        self._pending -= 1
        if self._pending <= 0:
            self._pending = 0
            self._idle.set()

    async def flush(self) -> None:
        """Return once every queued (and held) delivery has been attempted."""
        for key, delivery in list(self._held.items()):
            self._release(key, delivery)
        while self._pending:
            await self._idle.wait()

    # -- delivery -------------------------------------------------------------

    def retry_wait(self, attempt: int) -> float:
        """The wait after failed attempt ``attempt`` (1, 2, 4 ... times the base, capped)."""
        base = self.retry_base_seconds
        return min(base * 2 ** (attempt - 1), base * MAX_BACKOFF_FACTOR)

    def stats(self) -> dict[str, Any]:
        return {
            "num_dropped": self.num_dropped,
            "queued": {key: len(queue) for key, queue in self._queues.items()},
        }

    async def _deliver(self, delivery: Delivery) -> None:
        if time.monotonic() - delivery.queued_at > self.max_age_seconds:
            # Taken off the queue too late: LiveKit drops it and counts it.
            self.num_dropped += 1
            self._record(delivery, "expired")
            return
        if delivery.delay:
            self._record(delivery, "delayed", delay_ms=int(delivery.delay * 1000))
            await asyncio.sleep(delivery.delay)
        await self._send(delivery)
        if delivery.duplicate:
            self._record(delivery, "duplicated")
            await self._send(delivery)

    async def _send(self, delivery: Delivery) -> None:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            authorization = sign(delivery.body, api_key=self.api_key, api_secret=self.api_secret)
            url = self.config.url
            if url is None:
                self.outbox.append(
                    {
                        "id": delivery.event.id,
                        "event": delivery.event.event,
                        "room": delivery.room,
                        "body": delivery.body,
                        "authorization": authorization,
                        "content_type": CONTENT_TYPE,
                    }
                )
                del self.outbox[:-MAX_KEPT]
                self._record(delivery, "captured")
                return
            status: int | None = None
            error = ""
            try:
                session = self._client()
                async with session.post(
                    url,
                    data=delivery.body.encode(),
                    headers={
                        "Authorization": authorization,
                        "Content-Type": CONTENT_TYPE,
                        "User-Agent": USER_AGENT,
                    },
                ) as response:
                    status = response.status
                    await response.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = str(exc) or type(exc).__name__
            retry = status is None or status == 429 or (status >= 500 and status != 501)
            if not retry:
                self._record(delivery, "sent", status=status, attempt=attempt)
                return
            if attempt == MAX_ATTEMPTS:
                self._record(delivery, "failed", status=status, attempt=attempt, error=error)
                return
            self._record(delivery, "retried", status=status, attempt=attempt, error=error)
            await asyncio.sleep(self.retry_wait(attempt))

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # No client timeout, as LiveKit's notifier: a slow receiver is waited for.
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        return self._session

    def _record(self, delivery: Delivery, outcome: str, **extra: Any) -> None:
        del self.log[: -MAX_KEPT + 1]
        self.log.append(
            {
                "id": delivery.event.id,
                "event": delivery.event.event,
                "room": delivery.room,
                "key": delivery.key,
                "outcome": outcome,
                "status": None,
                "attempt": 0,
                "error": "",
                **extra,
            }
        )
