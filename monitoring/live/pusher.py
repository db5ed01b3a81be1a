"""The pusher: coalesces what changed per room and sends it to every open page.

``realtime.room_changed`` (after commit) hands a :class:`RoomChange` to the process's
pusher. The first change of a room goes out at once; later ones within
``ROOMWATCH_PUSH_INTERVAL_MS`` are merged into one trailing push that renders the room
as it is then (last state wins), so a join wave costs each socket a few messages a
second. Rendering happens in the pusher's own thread (or in the caller of
:meth:`Pusher.flush`: tests and commands), never in a request, with one database
connection whatever the load.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import close_old_connections

from monitoring import realtime
from monitoring.live import fragments, watch

logger = logging.getLogger(__name__)

# The participant chart is redrawn at most this often per room (it reads every span).
CHART_INTERVAL_SECONDS = 5.0


@dataclass(frozen=True)
class RoomChange:
    """What changed in one room since its last push. ``identities=None``: everything."""

    identities: frozenset[str] | None
    arrivals: frozenset[str] = frozenset()
    event_ids: frozenset[int] = frozenset()
    media: bool = False

    @classmethod
    def of(
        cls,
        *,
        identities: Iterable[str] | None,
        arrivals: Iterable[str] = (),
        event_ids: Iterable[int] = (),
        media: bool = False,
    ) -> RoomChange:
        return cls(
            identities=None if identities is None else frozenset(identities) | frozenset(arrivals),
            arrivals=frozenset(arrivals),
            event_ids=frozenset(event_ids),
            media=media,
        )

    def merge(self, other: RoomChange) -> RoomChange:
        identities = (
            None
            if self.identities is None or other.identities is None
            else self.identities | other.identities
        )
        return RoomChange(
            identities=identities,
            arrivals=self.arrivals | other.arrivals,
            event_ids=self.event_ids | other.event_ids,
            media=self.media or other.media,
        )


class Pusher:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[int, RoomChange] = {}
        self._last: dict[int, float] = {}
        self._chart_last: dict[int, float] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        # The report queue's page: one pending set of changed cases (None: none due).
        self._queue_ids: set[int] | None = None
        self._queue_last = -1e9
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # -- taking changes -------------------------------------------------------

    def request(
        self, room_id: int, change: RoomChange, *, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        with self._lock:
            current = self._pending.get(room_id)
            self._pending[room_id] = change if current is None else current.merge(change)
            if loop is not None:
                self._loop = loop
        self._wake.set()

    def queue_request(
        self, case_ids: set[int], *, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        with self._lock:
            self._queue_ids = (self._queue_ids or set()) | case_ids
            if loop is not None:
                self._loop = loop
        self._wake.set()

    # -- sending --------------------------------------------------------------

    def queue_flush(self, *, due_only: bool = False) -> bool:
        """Send the queue's pending push (when its interval has passed, if ``due_only``)."""
        now = time.monotonic()
        with self._lock:
            if self._queue_ids is None:
                return False
            if due_only and now - self._queue_last < realtime.queue_push_interval():
                return False
            ids, self._queue_ids, self._queue_last = self._queue_ids, None, now
            loop = self._loop
        realtime.queue_send(case_ids=ids, loop=loop)
        return True

    def flush(self, *, due_only: bool = False) -> int:
        """Render and send pending pushes (only those whose interval has passed when
        ``due_only``); return how many rooms were pushed."""
        interval = realtime.push_interval()
        now = time.monotonic()
        with self._lock:
            due = [
                room_id
                for room_id in self._pending
                if not due_only or now - self._last.get(room_id, -1e9) >= interval
            ]
            changes = [(room_id, self._pending.pop(room_id)) for room_id in due]
            for room_id in due:
                self._last[room_id] = now
            loop = self._loop
        open_pages = self._open_pages([room_id for room_id, _ in changes]) if changes else set()
        for room_id, change in changes:
            chart = change.identities is not None and (
                now - self._chart_last.get(room_id, -1e9) >= CHART_INTERVAL_SECONDS
            )
            if chart or change.identities is None:
                self._chart_last[room_id] = now
            self._send(room_id, change, chart=chart, page_open=room_id in open_pages, loop=loop)
        self._prune(now, interval)
        self.queue_flush(due_only=due_only)
        return len(changes)

    def _send(
        self,
        room_id: int,
        change: RoomChange,
        *,
        chart: bool,
        page_open: bool,
        loop: asyncio.AbstractEventLoop | None,
    ) -> None:
        try:
            by_group = fragments.room_fragments(
                room_id=room_id,
                identities=change.identities,
                arrivals=change.arrivals,
                event_ids=change.event_ids,
                media=change.media,
                chart=chart,
                page_open=page_open,
            )
            for group, by_role in by_group.items():
                for role, messages in by_role.items():
                    for html in messages:
                        realtime.group_send(
                            realtime.role_group(group, role),
                            realtime.push_message(html),
                            loop=loop,
                        )
        except Exception:
            # A failed push never undoes the write that caused it; pages resync on
            # reconnect and on the next change.
            logger.exception("push for room %s failed", room_id)

    def _open_pages(self, room_ids: list[int]) -> set[int]:
        """Rooms whose page is open somewhere: only they get their room page rendered;
        the others only their list row and wall tile. Read at every flush that has
        rooms due (one query), so a page opened a moment ago is never skipped."""
        try:
            return watch.room_pages_open()
        except Exception:
            logger.exception("could not read which room pages are open")
            return set(room_ids)  # render them all rather than miss one

    def _next_due_in(self) -> float | None:
        interval = realtime.push_interval()
        now = time.monotonic()
        with self._lock:
            due = [self._last.get(pk, -1e9) + interval - now for pk in self._pending]
            if self._queue_ids is not None:
                due.append(self._queue_last + realtime.queue_push_interval() - now)
            return max(0.0, min(due)) if due else None

    def _prune(self, now: float, interval: float) -> None:
        if len(self._last) > 10_000:
            with self._lock:
                for pk in [pk for pk, at in self._last.items() if now - at > interval]:
                    self._last.pop(pk, None)
                    self._chart_last.pop(pk, None)

    # -- the background thread ------------------------------------------------

    def start(self) -> None:
        """Push from a thread of this process from now on (web and worker processes)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="pusher", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            wait = self._next_due_in()
            if wait is None:
                self._wake.wait(1.0)
            elif wait > 0:
                self._wake.wait(wait)
            self._wake.clear()
            try:
                self.flush(due_only=True)
            finally:
                close_old_connections()
        self.flush()
        close_old_connections()

    def reset(self) -> None:
        with self._lock:
            self._pending.clear()
            self._last.clear()
            self._chart_last.clear()
            self._queue_ids = None
            self._queue_last = -1e9
            self._loop = None


pusher = Pusher()
