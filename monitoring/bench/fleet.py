"""Open console pages' websockets as staff, from a process of its own.

Each socket is a real websocket to ``/ws/rooms/<id>/``, ``/ws/rooms/`` or ``/ws/wall/``
carrying a staff session cookie and the console's origin, exactly what a browser
page opens. The process counts what every socket receives and, after a ``mark``,
when each socket's first message arrived (the wall clock, comparable across the
processes of this machine) and, for sockets that keep them, the texts.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SocketSpec:
    url: str  # ws://127.0.0.1:<port>/ws/rooms/<id>/
    session: str  # the sessionid cookie
    origin: str  # http://127.0.0.1:<port>
    label: str  # what the report groups by, e.g. "room page/Moderator"
    keep: bool = False  # keep the texts received after a mark


@dataclass
class _Socket:
    spec: SocketSpec
    ws: Any = None
    messages: int = 0
    bytes: int = 0
    closed: bool = False
    first_after_mark: float | None = None
    after_mark: int = 0
    texts: list[str] = field(default_factory=list)


class _Fleet:
    def __init__(self) -> None:
        self.sockets: list[_Socket] = []
        self.session: Any = None
        self.readers: list[asyncio.Task[None]] = []
        self.marked = False

    async def connect(self, specs: list[SocketSpec], rate: float, timeout: float) -> dict:
        import aiohttp

        if self.session is None:
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        errors: Counter[str] = Counter()
        started = time.perf_counter()

        opened: list[float] = []

        async def open_one(spec: SocketSpec) -> bool:
            begun = time.perf_counter()
            try:
                ws = await asyncio.wait_for(
                    self.session.ws_connect(
                        spec.url,
                        headers={"Cookie": f"sessionid={spec.session}", "Origin": spec.origin},
                        autoping=True,
                        max_msg_size=0,
                    ),
                    timeout,
                )
            except Exception as exc:
                errors[_reason(exc)] += 1
                return False
            opened.append((time.perf_counter() - begun) * 1000)
            sock = _Socket(spec, ws)
            self.sockets.append(sock)
            self.readers.append(asyncio.create_task(self._read(sock)))
            return True

        tasks = []
        for index, spec in enumerate(specs):
            delay = started + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(open_one(spec)))
        outcomes = await asyncio.gather(*tasks)
        seconds = time.perf_counter() - started
        # A socket the server closes right after accepting it did not really connect.
        await asyncio.sleep(0.5)
        fresh = self.sockets[-sum(outcomes) :] if any(outcomes) else []
        dropped = sum(1 for sock in fresh if sock.closed)
        return {
            "asked": len(specs),
            "connected": sum(outcomes) - dropped,
            "failed": len(specs) - sum(outcomes) + dropped,
            "seconds": seconds,
            "connect_ms": sorted(opened),
            "errors": dict(errors.most_common(5)),
        }

    async def _read(self, sock: _Socket) -> None:
        import aiohttp

        try:
            async for message in sock.ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = message.data
                sock.messages += 1
                sock.bytes += len(data.encode())
                if self.marked:
                    if sock.first_after_mark is None:
                        sock.first_after_mark = time.time()
                    sock.after_mark += 1
                    if sock.spec.keep:
                        sock.texts.append(data)
        except Exception:
            pass
        sock.closed = True

    def mark(self) -> float:
        for sock in self.sockets:
            sock.first_after_mark = None
            sock.after_mark = 0
            sock.texts = []
        self.marked = True
        return time.time()

    async def arrivals(self, wait: float) -> list[tuple[str, float | None, int]]:
        """Wait until every open socket received something since the mark (or ``wait`` s)."""
        deadline = time.perf_counter() + wait
        while time.perf_counter() < deadline:
            if all(s.first_after_mark is not None for s in self.sockets if not s.closed):
                break
            await asyncio.sleep(0.005)
        # Late second messages (a trailing push) are counted too.
        await asyncio.sleep(0.3)
        return [(s.spec.label, s.first_after_mark, s.after_mark) for s in self.sockets]

    def texts(self) -> list[tuple[str, list[str]]]:
        return [(s.spec.label, list(s.texts)) for s in self.sockets if s.spec.keep]

    def stats(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for sock in self.sockets:
            row = out.setdefault(
                sock.spec.label, {"sockets": 0, "open": 0, "messages": 0, "bytes": 0}
            )
            row["sockets"] += 1
            row["open"] += 0 if sock.closed else 1
            row["messages"] += sock.messages
            row["bytes"] += sock.bytes
        return out

    def reset_stats(self) -> None:
        for sock in self.sockets:
            sock.messages = 0
            sock.bytes = 0

    async def close_all(self) -> None:
        for sock in self.sockets:
            if sock.ws is not None and not sock.ws.closed:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(sock.ws.close(), 2)
        for task in self.readers:
            task.cancel()
        self.sockets = []
        self.readers = []
        self.marked = False

    async def shutdown(self) -> None:
        await self.close_all()
        if self.session is not None:
            await self.session.close()


def _reason(exc: BaseException) -> str:
    status = getattr(exc, "status", None)
    if status:
        return f"HTTP {status}"
    detail = str(exc).split(":")[-1].strip()[:40]
    return f"{type(exc).__name__} ({detail})" if detail else type(exc).__name__


async def _serve(conn: Any) -> None:
    fleet = _Fleet()
    loop = asyncio.get_running_loop()
    while True:
        message = await loop.run_in_executor(None, conn.recv)
        command, args = message[0], message[1:]
        if command == "connect":
            conn.send(await fleet.connect(*args))
        elif command == "mark":
            conn.send(fleet.mark())
        elif command == "arrivals":
            conn.send(await fleet.arrivals(*args))
        elif command == "texts":
            conn.send(fleet.texts())
        elif command == "stats":
            conn.send(fleet.stats())
        elif command == "reset_stats":
            fleet.reset_stats()
            conn.send(True)
        elif command == "close_all":
            await fleet.close_all()
            conn.send(True)
        elif command == "exit":
            await fleet.shutdown()
            conn.send(True)
            return


def _child(conn: Any) -> None:
    asyncio.run(_serve(conn))


class Fleet:
    """Websocket pages in a spawned process; each method is one blocking round trip."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_child, args=(child,), daemon=True, name="fleet")
        self.process.start()

    def _call(self, *message: Any, timeout: float = 300) -> Any:
        self.conn.send(message)
        if not self.conn.poll(timeout):
            raise TimeoutError(f"the websocket fleet did not answer {message[0]!r}")
        return self.conn.recv()

    def connect(self, specs: list[SocketSpec], *, rate: float = 250, timeout: float = 10) -> dict:
        return self._call("connect", specs, rate, timeout)

    def mark(self) -> float:
        return self._call("mark")

    def arrivals(self, *, wait: float = 5.0) -> list[tuple[str, float | None, int]]:
        return self._call("arrivals", wait)

    def texts(self) -> list[tuple[str, list[str]]]:
        return self._call("texts")

    def stats(self) -> dict[str, dict[str, int]]:
        return self._call("stats")

    def reset_stats(self) -> None:
        self._call("reset_stats")

    def close_all(self) -> None:
        self._call("close_all")

    def close(self) -> None:
        with contextlib.suppress(TimeoutError, BrokenPipeError, EOFError, OSError):
            self._call("exit", timeout=15)
        self.process.join(5)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
