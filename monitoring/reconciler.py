"""One reconciliation pass: read LiveKit's API and make the mirror equal to it.

Webhooks are not guaranteed (late, missing, duplicated), so a periodic pass is what
keeps the dashboard true. The remote reads happen first, outside any transaction;
``mirror.snapshot_apply`` then writes the corrections room by room. Only one
process reconciles at a time (a PostgreSQL advisory lock). When LiveKit cannot be
reached the mirror is left as it is and ``SyncState`` says it is stale.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from asgiref.sync import async_to_sync
from django.db import connection
from django.utils import timezone

from monitoring import livekit, mirror, realtime
from monitoring.models import SyncState

logger = logging.getLogger(__name__)

# pg_try_advisory_lock key: any constant the console's other locks do not use.
ADVISORY_LOCK_KEY = 0x526F6F6D_77617463  # "Roomwatc"
# Without PostgreSQL (SQLite demo: one process) a process lock is enough.
_local_lock = threading.Lock()
# ListParticipants calls in flight at once.
FETCH_CONCURRENCY = 8


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
    """What one ``reconcile_once`` did."""

    ran: bool
    error: str = ""
    rooms_seen: int = 0
    corrected_room_ids: list[int] = field(default_factory=list)
    corrections: list[str] = field(default_factory=list)

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
def reconcile_lock() -> Iterator[bool]:
    """Yield True when this process may reconcile now, False when another one is.

    On PostgreSQL a session-level advisory lock on the current connection (held
    across the pass's several transactions, released at the end or when the
    connection dies); elsewhere a process-local lock.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
            acquired = bool(cursor.fetchone()[0])
        try:
            yield acquired
        finally:
            if acquired:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])
        return
    acquired = _local_lock.acquire(blocking=False)
    try:
        yield acquired
    finally:
        if acquired:
            _local_lock.release()


async def _fetch_snapshot() -> mirror.Snapshot:
    taken_at = timezone.now()
    rooms = await livekit.list_rooms()
    limit = asyncio.Semaphore(FETCH_CONCURRENCY)

    async def participants_of(room: livekit.RoomInfo) -> list[livekit.ParticipantInfo]:
        async with limit:
            return await livekit.list_participants(room=room.name)

    participants, egresses, ingresses = await asyncio.gather(
        asyncio.gather(*(participants_of(room) for room in rooms)),
        livekit.list_egress(),
        livekit.list_ingress(),
    )
    return mirror.Snapshot(
        taken_at=taken_at,
        rooms=rooms,
        participants={
            room.sid: tuple(found) for room, found in zip(rooms, participants, strict=True)
        },
        egresses=egresses,
        ingresses=ingresses,
    )


def reconcile_once() -> PassResult:
    """Run one pass unless another process is running one (then ``ran`` is False)."""
    with reconcile_lock() as acquired:
        if not acquired:
            logger.info("reconcile: another process holds the lock; skipping this pass")
            return PassResult(ran=False)
        try:
            snapshot = async_to_sync(_fetch_snapshot)()
        except livekit.LiveKitError as exc:
            message = str(exc) + (f" ({exc.detail})" if exc.detail else "")
            logger.warning("reconcile: LiveKit cannot be read: %s", message)
            _sync_state_record(error=message)
            return PassResult(ran=True, error=message)
        applied = mirror.snapshot_apply(snapshot=snapshot)
        _sync_state_record()
        if applied.corrections:
            logger.info(
                "reconcile: corrected %d room(s): %s",
                len(applied.corrected_room_ids),
                "; ".join(applied.corrections)[:2000],
            )
        return PassResult(
            ran=True,
            rooms_seen=applied.rooms_seen,
            corrected_room_ids=applied.corrected_room_ids,
            corrections=applied.corrections,
        )
