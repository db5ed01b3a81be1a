"""Reconciliation: read LiveKit's API and make the mirror equal to it.

Webhooks are not guaranteed (late, missing, duplicated), so a periodic pass is what
keeps the dashboard true. A pass lists every room once (ListRooms, ListEgress,
ListIngress), compares them with the mirror in bulk, and lists participants
(ListParticipants, at most ``ROOMWATCH_RECONCILE_CONCURRENCY`` at once) only of the
rooms that need it: those whose counts or publishers disagree with the mirror, those
someone has open (watched), and a rotating slice of the rest, sized so that every
room is fully checked at least every ``ROOMWATCH_FULL_CHECK_SECONDS``. The remote
reads happen outside any transaction; ``mirror.snapshot_apply`` then writes only the
rooms that differ. Only one process reconciles at a time (a PostgreSQL advisory
lock). When LiveKit cannot be reached the mirror is left as it is and ``SyncState``
says it is stale. Each pass's figures are stored as a ``ReconcilePass``.

Watched rooms (an open room page or wall, ``monitoring.live.watch``) are also polled
every ``ROOMWATCH_WATCH_POLL_MS`` (``watched_poll_once``), since LiveKit sends no
webhook for self-mutes, metadata, attributes or permission changes.
``run_forever`` runs both loops.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from monitoring import livekit, metrics, mirror, realtime
from monitoring.mirror.snapshot import rooms_plan
from monitoring.models import ReconcilePass, Room, SyncState

logger = logging.getLogger(__name__)

# pg_try_advisory_lock key: any constant the console's other locks do not use.
ADVISORY_LOCK_KEY = 0x526F6F6D_77617463  # "Roomwatc"
# The watched-room poll's own lock: it runs beside the interval pass, one at a time.
WATCH_LOCK_KEY = 0x526F6F6D_77617464
# Without PostgreSQL (SQLite demo: one process) a process lock is enough.
_local_locks = {ADVISORY_LOCK_KEY: threading.Lock(), WATCH_LOCK_KEY: threading.Lock()}
# Pass figures kept (older rows are deleted).
PASSES_KEPT = 500


@dataclass(frozen=True)
class SyncStatus:
    """What pages show about the mirror's freshness."""

    last_success_at: datetime | None
    last_error: str
    last_error_at: datetime | None

    @property
    def is_stale(self) -> bool:
        """The last pass failed (or none ever succeeded after a failure)."""
        if self.last_error_at is None:
            return False
        return self.last_success_at is None or self.last_error_at > self.last_success_at

    @property
    def message(self) -> str:
        if not self.is_stale:
            return ""
        if self.last_success_at is None:
            return "LiveKit unreachable — the mirror has never been synchronised."
        when = timezone.localtime(self.last_success_at).strftime("%Y-%m-%d %H:%M:%S %Z")
        return f"LiveKit unreachable — showing the last known state from {when}."


@dataclass
class PassResult:
    """What one ``reconcile_once`` (or ``watched_poll_once``) did."""

    ran: bool
    error: str = ""
    rooms_seen: int = 0
    corrected_room_ids: list[int] = field(default_factory=list)
    corrections: list[str] = field(default_factory=list)
    # Rooms whose participants were listed, and why.
    rooms_checked: int = 0
    rooms_disagreeing: int = 0
    rooms_watched: int = 0
    rooms_rotated: int = 0
    livekit_calls: int = 0
    queries: int = 0
    duration_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.ran and not self.error


def sync_status() -> SyncStatus:
    """The mirror's freshness, for the banner every page shows (one query)."""
    state = SyncState.objects.filter(pk=1).first()
    if state is None:
        return SyncStatus(last_success_at=None, last_error="", last_error_at=None)
    return SyncStatus(
        last_success_at=state.last_success_at,
        last_error=state.last_error,
        last_error_at=state.last_error_at,
    )


def _sync_state_record(*, error: str = "") -> None:
    """Record how the pass went; tell every open page when LiveKit's reachability flips."""
    from monitoring.queue import alerts

    alerts.health_observe(error=error)  # before recording: the last pass bounds its count
    was_stale = sync_status().is_stale
    now = timezone.now()
    if error:
        SyncState.objects.update_or_create(
            pk=1, defaults={"last_error": error[:2000], "last_error_at": now}
        )
    else:
        SyncState.objects.update_or_create(pk=1, defaults={"last_success_at": now})
    if sync_status().is_stale != was_stale:
        realtime.sync_status_changed()


@contextmanager
def reconcile_lock(key: int = ADVISORY_LOCK_KEY) -> Iterator[bool]:
    """Yield True when this process may reconcile now, False when another one is.

    On PostgreSQL a session-level advisory lock on the current connection (held
    across the pass's several transactions, released at the end or when the
    connection dies); elsewhere a process-local lock.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            acquired = bool(cursor.fetchone()[0])
        try:
            yield acquired
        finally:
            if acquired:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        return
    lock = _local_locks[key]
    acquired = lock.acquire(blocking=False)
    try:
        yield acquired
    finally:
        if acquired:
            lock.release()


@contextmanager
def _queries_counted() -> Iterator[list[int]]:
    """Count the queries this thread's connection runs inside the block."""
    counted = [0]

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        counted[0] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        yield counted


async def _fetch_lists() -> tuple[
    list[livekit.RoomInfo], list[livekit.EgressInfo], list[livekit.IngressInfo]
]:
    rooms, egresses, ingresses = await asyncio.gather(
        livekit.list_rooms(), livekit.list_egress(), livekit.list_ingress()
    )
    return rooms, egresses, ingresses


async def _fetch_participants(
    names: list[str],
) -> list[list[livekit.ParticipantInfo]]:
    limit = asyncio.Semaphore(settings.ROOMWATCH_RECONCILE_CONCURRENCY)

    async def participants_of(name: str) -> list[livekit.ParticipantInfo]:
        async with limit:
            return await livekit.list_participants(room=name)

    return list(await asyncio.gather(*(participants_of(name) for name in names)))


def rotation_slice(
    *, sids: list[str], cursor: str, interval: float, full_check_seconds: float
) -> tuple[list[str], str]:
    """The rooms this pass checks in full whatever their counts say, and the cursor
    the next pass starts after: rooms in sid order, ``ceil(n / passes)`` per pass,
    where ``passes`` interval passes fit in ``full_check_seconds``, so every room is
    checked within that time (when passes run every ``interval``)."""
    if not sids:
        return [], ""
    ordered = sorted(sids)
    passes = max(1, math.floor(full_check_seconds / max(interval, 0.001)))
    size = min(len(ordered), math.ceil(len(ordered) / passes))
    start = bisect.bisect_right(ordered, cursor) if cursor else 0
    chosen = (ordered[start:] + ordered[:start])[:size]
    return chosen, chosen[-1]


def _last_cursor() -> str:
    return (
        ReconcilePass.objects.filter(ok=True)
        .order_by("-started_at", "-pk")
        .values_list("rotation_cursor", flat=True)
        .first()
        or ""
    )


def _error_message(exc: livekit.LiveKitError) -> str:
    return str(exc) + (f" ({exc.detail})" if exc.detail else "")


def reconcile_once(*, interval: float | None = None) -> PassResult:
    """Run one pass unless another process is running one (then ``ran`` is False).

    ``interval`` is how often passes run (default ``ROOMWATCH_SYNC_INTERVAL_SECONDS``):
    it sizes the rotating slice of fully checked rooms.
    """
    from monitoring.live import watch

    interval = interval or settings.ROOMWATCH_SYNC_INTERVAL_SECONDS
    started = time.perf_counter()
    started_at = timezone.now()
    with _queries_counted() as queries, reconcile_lock() as acquired:
        if not acquired:
            logger.info("reconcile: another process holds the lock; skipping this pass")
            return PassResult(ran=False)
        result = PassResult(ran=True)
        taken_at = timezone.now()
        try:
            rooms, egresses, ingresses = async_to_sync(_fetch_lists)()
            result.livekit_calls += 3
            plan = rooms_plan(rooms=rooms)
            sid_by_pk = {pk: sid for sid, pk in plan.open_room_ids.items()}
            listed_sids = {info.sid for info in rooms}
            watched = {
                sid_by_pk[pk] for pk in watch.watched_room_ids() if pk in sid_by_pk
            } & listed_sids
            rotated, cursor = rotation_slice(
                sids=list(listed_sids),
                cursor=_last_cursor(),
                interval=interval,
                full_check_seconds=settings.ROOMWATCH_FULL_CHECK_SECONDS,
            )
            checked = plan.disagreeing | watched | set(rotated)
            to_list = [info for info in rooms if info.sid in checked]
            found = async_to_sync(_fetch_participants)([info.name for info in to_list])
            result.livekit_calls += len(to_list)
        except livekit.LiveKitError as exc:
            result.error = _error_message(exc)
            logger.warning("reconcile: LiveKit cannot be read: %s", result.error)
            _sync_state_record(error=result.error)
            _pass_record(result=result, started_at=started_at, started=started, queries=queries)
            return result
        applied = mirror.snapshot_apply(
            snapshot=mirror.Snapshot(
                taken_at=taken_at,
                rooms=rooms,
                participants={
                    info.sid: tuple(participants)
                    for info, participants in zip(to_list, found, strict=True)
                },
                egresses=egresses,
                ingresses=ingresses,
            )
        )
        _sync_state_record()
        result.rooms_seen = applied.rooms_seen
        result.corrected_room_ids = applied.corrected_room_ids
        result.corrections = applied.corrections
        result.rooms_checked = len(to_list)
        result.rooms_disagreeing = len(plan.disagreeing)
        result.rooms_watched = len(watched)
        result.rooms_rotated = len(rotated)
        _pass_record(
            result=result, started_at=started_at, started=started, queries=queries, cursor=cursor
        )
    if applied.corrections:
        logger.info(
            "reconcile: corrected %d room(s): %s",
            len(applied.corrected_room_ids),
            "; ".join(applied.corrections)[:2000],
        )
    return result


def _pass_record(
    *,
    result: PassResult,
    started_at: datetime,
    started: float,
    queries: list[int],
    cursor: str = "",
) -> None:
    """Store the pass's figures. The queries counted include the two here and, on
    PostgreSQL, the advisory unlock that follows."""
    result.duration_ms = round((time.perf_counter() - started) * 1000)
    result.queries = queries[0] + 2 + (connection.vendor == "postgresql")
    row = ReconcilePass.objects.create(
        started_at=started_at,
        duration_ms=result.duration_ms,
        ok=result.ok,
        error=result.error[:2000],
        rooms_listed=result.rooms_seen,
        rooms_checked=result.rooms_checked,
        rooms_disagreeing=result.rooms_disagreeing,
        rooms_watched=result.rooms_watched,
        rooms_rotated=result.rooms_rotated,
        rooms_corrected=len(result.corrected_room_ids),
        corrections=len(result.corrections),
        livekit_calls=result.livekit_calls,
        queries=result.queries,
        rotation_cursor=cursor,
    )
    ReconcilePass.objects.filter(pk__lte=row.pk - PASSES_KEPT).delete()
    metrics.reconciler_corrected(len(result.corrections))


def last_pass() -> ReconcilePass | None:
    """The figures of the latest interval pass (for ``/healthz`` and the benchmark)."""
    return ReconcilePass.objects.order_by("-started_at", "-pk").first()


# --- Watched rooms -----------------------------------------------------------------


async def _fetch_watched(
    names: list[str],
) -> tuple[list[livekit.RoomInfo], list[list[livekit.ParticipantInfo]]]:
    rooms, participants = await asyncio.gather(
        livekit.list_rooms(names=names), _fetch_participants(names)
    )
    return rooms, participants


def watched_poll_once() -> PassResult:
    """List the participants of the watched rooms only and apply what differs (one
    ListRooms for those names, to make sure each is still the same session, and one
    ListParticipants per room); the pages of changed rooms are pushed on commit."""
    from monitoring.live import watch

    started = time.perf_counter()
    with _queries_counted() as queries, reconcile_lock(WATCH_LOCK_KEY) as acquired:
        if not acquired:
            return PassResult(ran=False)
        result = PassResult(ran=True)
        ids = watch.watched_room_ids()
        rooms = dict(
            Room.objects.filter(pk__in=ids, ended_at__isnull=True).values_list("name", "sid")
        )
        if not rooms:
            return result
        taken_at = timezone.now()
        names = sorted(rooms)
        try:
            infos, found = async_to_sync(_fetch_watched)(names)
        except livekit.LiveKitError as exc:
            result.error = _error_message(exc)
            return result  # the interval pass records LiveKit's reachability
        result.livekit_calls = 1 + len(names)
        same = {info.name: info for info in infos if rooms.get(info.name) == info.sid}
        applied = mirror.snapshot_apply(
            snapshot=mirror.Snapshot(
                taken_at=taken_at,
                rooms=list(same.values()),
                participants={
                    same[name].sid: tuple(participants)
                    for name, participants in zip(names, found, strict=True)
                    if name in same
                },
                complete=False,
            )
        )
        result.rooms_seen = applied.rooms_seen
        result.rooms_checked = result.rooms_watched = len(same)
        result.corrected_room_ids = applied.corrected_room_ids
        result.corrections = applied.corrections
    result.queries = queries[0]
    result.duration_ms = round((time.perf_counter() - started) * 1000)
    return result


# --- Loops -------------------------------------------------------------------------


def _watch_loop(stop: threading.Event, poll_seconds: float) -> None:
    from monitoring.live import watch

    last_clean = 0.0
    while not stop.is_set():
        began = time.monotonic()
        try:
            if began - last_clean >= watch.CLEAN_EVERY_SECONDS:
                watch.watches_clean()
                last_clean = began
            watched_poll_once()
        except Exception:
            logger.exception("watched-room poll failed; trying again")
        finally:
            close_old_connections()
        stop.wait(max(0.0, poll_seconds - (time.monotonic() - began)))
    connection.close()


def run_forever(
    *,
    stop: threading.Event,
    interval: float | None = None,
    poll_seconds: float | None = None,
) -> None:
    """Interval passes in this thread and the watched-room poll in a second one, until
    ``stop`` is set (the embedded workers and ``manage.py livekit_sync``)."""
    from monitoring.moderation.restrictions import restrictions_expire_due

    interval = interval or settings.ROOMWATCH_SYNC_INTERVAL_SECONDS
    poll = threading.Thread(
        target=_watch_loop,
        args=(stop, poll_seconds or settings.ROOMWATCH_WATCH_POLL_SECONDS),
        name="reconciler-watched",
        daemon=True,
    )
    poll.start()
    try:
        while not stop.is_set():
            began = time.monotonic()
            try:
                close_old_connections()
                result = reconcile_once(interval=interval)
                restrictions_expire_due()
                if result.error:
                    logger.warning("livekit_sync: pass failed: %s", result.error)
                elif result.ran:
                    logger.info(
                        "livekit_sync: %d room(s), %d listed, %d corrected in %d ms",
                        result.rooms_seen,
                        result.rooms_checked,
                        len(result.corrected_room_ids),
                        result.duration_ms,
                    )
            except Exception:
                logger.exception("livekit_sync: pass crashed; trying again next interval")
            finally:
                close_old_connections()
            stop.wait(max(0.0, interval - (time.monotonic() - began)))
    finally:
        poll.join(timeout=10)
        connection.close()


__all__ = [
    "ADVISORY_LOCK_KEY",
    "PassResult",
    "SyncStatus",
    "last_pass",
    "reconcile_lock",
    "reconcile_once",
    "rotation_slice",
    "run_forever",
    "sync_status",
    "watched_poll_once",
]
