"""Send signed webhooks at a rate and a concurrency, from a process of its own.

The bodies are made and signed before the timed window (``prepare``), so the timed
part only posts bytes: the generator stays cheap and does not take the CPU it
measures. Requests start on an open-loop schedule (event ``i`` at ``i / rate`` s),
with at most ``concurrency`` in flight; when the server is slower the schedule slips,
and the slip is reported. Background mode (``presign=False``, for ``manage.py
latency``) signs each event just before it is sent and runs until stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from monitoring.bench.events import EventMaker, RoomSpec, headers, sign


@dataclass
class LoadPlan:
    urls: list[str]  # webhook URLs, used in turn (one per web worker)
    rooms: list[RoomSpec]
    tag: str
    count: int
    rate: float
    concurrency: int
    api_key: str
    api_secret: str
    presign: bool = True
    seed: int = 7
    # Stop starting requests this many seconds after the first (a server slower than the
    # rate would otherwise stretch the burst); the rest are reported as not sent.
    window: float | None = None


@dataclass
class LoadResult:
    sent: int = 0
    ok: int = 0
    statuses: dict[int, int] = field(default_factory=dict)  # 0: no answer (transport error)
    latencies_ms: list[float] = field(default_factory=list)
    ok_ids: list[str] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=dict)
    started: float = 0.0  # wall clock of the first send
    ended: float = 0.0  # wall clock of the last answer
    max_lag_ms: float = 0.0
    unsent: int = 0  # planned, but the window closed first
    errors: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return max(self.ended - self.started, 1e-9)

    @property
    def ok_per_second(self) -> float:
        return self.ok / self.seconds if self.ok else 0.0


def _items(plan: LoadPlan) -> Iterator[tuple[str, str, bytes, str]]:
    maker = EventMaker(plan.rooms, tag=plan.tag, seed=plan.seed)
    for _ in range(plan.count):
        event_id, kind, body = maker.next()
        yield event_id, kind, body.encode(), body


def prepare(plan: LoadPlan) -> list[tuple[str, str, bytes, dict[str, str]]]:
    """(event id, kind, body, headers) of every event, signed now."""
    return [
        (event_id, kind, raw, headers(sign(body, api_key=plan.api_key, api_secret=plan.api_secret)))
        for event_id, kind, raw, body in _items(plan)
    ]


def _signed_lazily(plan: LoadPlan) -> Iterator[tuple[str, str, bytes, dict[str, str]]]:
    for event_id, kind, raw, body in _items(plan):
        yield (
            event_id,
            kind,
            raw,
            headers(sign(body, api_key=plan.api_key, api_secret=plan.api_secret)),
        )


async def run(
    plan: LoadPlan,
    items: Any,
    *,
    stopped: Any = None,
) -> LoadResult:
    """Send ``items`` on the plan's schedule; ``stopped()`` (optional) ends it early."""
    import aiohttp

    result = LoadResult()
    statuses: Counter[int] = Counter()
    kinds: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    semaphore = asyncio.Semaphore(plan.concurrency)
    connector = aiohttp.TCPConnector(limit=plan.concurrency, limit_per_host=0)
    timeout = aiohttp.ClientTimeout(total=60)
    urls = plan.urls

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(index: int, event_id: str, kind: str, raw: bytes, hdrs: dict) -> None:
            status = 0
            try:
                started = time.perf_counter()
                async with session.post(urls[index % len(urls)], data=raw, headers=hdrs) as answer:
                    await answer.read()
                    status = answer.status
                result.latencies_ms.append((time.perf_counter() - started) * 1000)
            except Exception as exc:  # a refused or dropped connection: counted, not raised
                errors[type(exc).__name__] += 1
            finally:
                semaphore.release()
            statuses[status] += 1
            kinds[kind] += 1
            if 200 <= status < 300:
                result.ok_ids.append(event_id)
            result.ended = time.time()

        tasks: list[asyncio.Task[None]] = []
        begin = time.perf_counter() + 0.02
        result.started = time.time() + 0.02
        for index, (event_id, kind, raw, hdrs) in enumerate(items):
            due = begin + index / plan.rate
            delay = due - time.perf_counter()
            if delay > 0.001:
                await asyncio.sleep(delay)
            if stopped is not None and index % 50 == 0 and stopped():
                break
            if plan.window is not None and time.perf_counter() > begin + plan.window:
                result.unsent = plan.count - index
                break
            await semaphore.acquire()
            lag = (time.perf_counter() - due) * 1000
            result.max_lag_ms = max(result.max_lag_ms, lag)
            tasks.append(asyncio.create_task(one(index, event_id, kind, raw, hdrs)))
        if tasks:
            await asyncio.gather(*tasks)
    result.sent = len(tasks)
    result.ok = len(result.ok_ids)
    result.statuses = dict(statuses)
    result.kinds = dict(kinds)
    result.errors = [f"{name} x{n}" for name, n in errors.most_common()]
    return result


# --- In a process of its own -------------------------------------------------------


def _child(conn: Any) -> None:
    """The load process: ``plan`` -> prepares, says ``ready``; ``go`` -> sends, answers
    with the result; ``stop`` during a run ends it; ``exit`` ends the process."""
    while True:
        message = conn.recv()
        if message[0] == "exit":
            return
        plan: LoadPlan = message[1]
        started = time.perf_counter()
        items: Any = prepare(plan) if plan.presign else _signed_lazily(plan)
        conn.send(("ready", time.perf_counter() - started))
        if conn.recv()[0] != "go":
            continue

        def stopped() -> bool:
            if conn.poll():
                return conn.recv()[0] == "stop"
            return False

        result = asyncio.run(run(plan, items, stopped=stopped))
        conn.send(("result", result))


class LoadProcess:
    """A load generator in a spawned process (it never shares the GIL with what it times)."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_child, args=(child,), daemon=True, name="loadgen")
        self.process.start()

    def prepare(self, plan: LoadPlan, *, timeout: float = 900) -> float:
        """Make and sign the plan's events; return how long that took (s)."""
        self.conn.send(("plan", plan))
        if not self.conn.poll(timeout):
            raise TimeoutError("the load generator did not get ready")
        return float(self.conn.recv()[1])

    def go(self) -> None:
        self.conn.send(("go",))

    def stop(self) -> None:
        self.conn.send(("stop",))

    def result(self, *, timeout: float = 900) -> LoadResult:
        if not self.conn.poll(timeout):
            raise TimeoutError("the load generator did not finish")
        return self.conn.recv()[1]

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self.conn.send(("exit",))
        self.process.join(5)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
