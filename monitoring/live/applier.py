"""Apply recorded webhooks (``InboxEvent`` rows) to the mirror, outside any request.

Several appliers may run at once (``manage.py livekit_apply`` processes, or the web
process's own thread with ``ROOMWATCH_WORKERS=embedded``). Each batch:

1. claims the oldest pending rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two
   appliers never claim the same row);
2. per room key, takes a transaction-scoped advisory lock and checks that no older
   event of that key is still pending elsewhere (claimed by another applier), so a
   room's events are applied one at a time, in the order they were received; keys it
   cannot take now are left for a later batch;
3. applies each event with ``monitoring.mirror.event_apply`` (in a savepoint: one bad
   event is marked failed and never blocks its room), marks the rows applied, and
   commits. The mirror's pushes and ban enforcement run on that commit.

On SQLite (the demo: one process) a process lock lets one applier run at a time.
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
    transaction,
)
from django.utils import timezone

from monitoring import livekit, mirror
from monitoring.live import inbox
from monitoring.models import InboxEvent, Room

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
# pg_try_advisory_xact_lock(namespace, hashtext(key)): the namespace keeps these
# locks apart from the reconciler's.
ADVISORY_NAMESPACE = 0x5257  # "RW"
# Applied rows are kept this long (to answer redeliveries as duplicates), then pruned.
KEEP_APPLIED = timedelta(hours=6)
_sqlite_lock = threading.Lock()


@dataclass(frozen=True)
class AppliedEvent:
    """One inbox event the applier has applied and committed (what hooks receive)."""

    event_id: str
    kind: str
    room_id: int
    identity: str
    occurred_at: datetime


# Dotted paths of callables ``hook(events: list[AppliedEvent]) -> None`` the applier
# calls after each committed batch (in the applier's thread, never in a request).
# A hook that raises is logged and does not undo or stop the applier.
AFTER_APPLY_HOOKS: tuple[str, ...] = ("monitoring.queue.alerts.after_apply",)


@dataclass
class BatchResult:
    claimed: int = 0
    applied: int = 0
    deferred: int = 0  # rows of rooms another applier is applying right now


def apply_batch(*, limit: int = BATCH_SIZE) -> BatchResult:
    """Claim and apply one batch of pending events; say how many."""
    if connection.vendor != "postgresql":
        with _sqlite_lock:
            return _apply_batch(limit)
    return _apply_batch(limit)


def _apply_batch(limit: int) -> BatchResult:
    result = BatchResult()
    applied: list[AppliedEvent] = []
    with mirror.arrivals_collected() as arrivals, transaction.atomic():
        rows = list(
            InboxEvent.objects.select_for_update(skip_locked=True)
            .filter(applied_at__isnull=True)
            .order_by("id")[:limit]
        )
        result.claimed = len(rows)
        if not rows:
            return result
        by_key: dict[str, list[InboxEvent]] = {}
        for row in rows:
            by_key.setdefault(row.room_key, []).append(row)
        keys = _keys_free(by_key)
        done: list[InboxEvent] = []
        for key, events in by_key.items():
            if key not in keys:
                result.deferred += len(events)
                continue
            touched: set[int] = set()
            for row in events:
                done.append(row)
                outcome, info = _apply_one(row)
                row.outcome = outcome[:300]
                if info is not None:
                    applied.append(info)
                    touched.add(info.room_id)
            # Counts, roles and status once per room and batch, not once per event.
            _rooms_refresh(touched)
        now = timezone.now()
        for row in done:
            row.applied_at = now
            row.attempts += 1
        InboxEvent.objects.bulk_update(done, ["applied_at", "outcome", "attempts"])
        result.applied = len(done)
    # Bans and restrictions of everyone who arrived, in one lookup (LiveKit calls
    # happen here, after the commit).
    mirror.arrivals_enforce(arrivals)
    if applied:
        _after_apply(applied)
    return result


def _keys_free(by_key: dict[str, list[InboxEvent]]) -> set[str]:
    """The room keys this batch may apply now: locked by no other applier, and with no
    older pending event that another applier has claimed."""
    if connection.vendor != "postgresql":
        return set(by_key)
    first_id = {key: events[0].pk for key, events in by_key.items()}
    free: set[str] = set()
    with connection.cursor() as cursor:
        for key in by_key:
            cursor.execute(
                "SELECT pg_try_advisory_xact_lock(%s, hashtext(%s))", [ADVISORY_NAMESPACE, key]
            )
            if cursor.fetchone()[0]:
                free.add(key)
        if free:
            # Rows other appliers claimed are invisible to SKIP LOCKED, not to this.
            cursor.execute(
                "SELECT room_key, MIN(id) FROM monitoring_inboxevent "
                "WHERE applied_at IS NULL AND room_key = ANY(%s) GROUP BY room_key",
                [list(free)],
            )
            for key, oldest in cursor.fetchall():
                if oldest < first_id[key]:
                    free.discard(key)
    return free


def _apply_one(row: InboxEvent) -> tuple[str, AppliedEvent | None]:
    try:
        event = livekit.webhook_parse(row.body)
    except ValueError as exc:
        return f"failed: {exc}", None
    try:
        # event_apply's own savepoint undoes a failed event; the batch goes on.
        result = mirror.event_apply(event=event, payload=json.loads(row.body), refresh=False)
    except (OperationalError, InterfaceError):
        raise  # the database itself failed: the whole batch rolls back and is retried
    except Exception as exc:
        logger.exception("applying %s %s failed", row.kind, row.event_id)
        return f"failed: {type(exc).__name__}: {exc}", None
    if result.outcome != "applied" or result.room_id is None:
        return result.outcome, None
    identity = event.participant.identity if event.participant is not None else ""
    return "applied", AppliedEvent(
        event_id=row.event_id,
        kind=row.kind,
        room_id=result.room_id,
        identity=identity,
        occurred_at=event.created_at,
    )


def _rooms_refresh(room_ids: set[int]) -> None:
    now = timezone.now()
    for room in Room.objects.select_for_update().filter(pk__in=room_ids).order_by("pk"):
        mirror.room_refresh(room=room, now=now)


def _after_apply(events: list[AppliedEvent]) -> None:
    for path in AFTER_APPLY_HOOKS:
        try:
            _hook(path)(events)
        except Exception:
            logger.exception("after-apply hook %s failed", path)


_hooks: dict[str, Callable[[list[AppliedEvent]], None]] = {}


def _hook(path: str) -> Callable[[list[AppliedEvent]], None]:
    if path not in _hooks:
        module, _, name = path.rpartition(".")
        _hooks[path] = getattr(importlib.import_module(module), name)
    return _hooks[path]


def apply_pending(*, max_batches: int = 10_000) -> int:
    """Apply every pending event now, in this thread; return how many were applied.

    For tests and commands. Rooms another applier holds are waited for briefly.
    """
    total = 0
    for _ in range(max_batches):
        result = apply_batch()
        total += result.applied
        if result.claimed == 0:
            break
        if result.applied == 0:
            time.sleep(0.01)
    return total


def pending_count() -> int:
    return InboxEvent.objects.filter(applied_at__isnull=True).count()


def applied_prune(*, now: datetime | None = None) -> int:
    """Forget applied events older than ``KEEP_APPLIED`` (redeliveries are that old at most)."""
    cutoff = (now or timezone.now()) - KEEP_APPLIED
    deleted, _ = InboxEvent.objects.filter(applied_at__lt=cutoff).delete()
    return deleted


def run_forever(*, stop: threading.Event, idle_wait: float | None = None) -> None:
    """Apply batches until ``stop`` is set; when idle, wait for a new event (in this
    process) or poll every ``ROOMWATCH_APPLY_POLL_MS`` (events other processes record)."""
    wait = idle_wait if idle_wait is not None else settings.ROOMWATCH_APPLY_POLL_SECONDS
    last_prune = 0.0
    while not stop.is_set():
        try:
            inbox.recorded.clear()
            result = apply_batch()
            if time.monotonic() - last_prune > 600:
                applied_prune()
                last_prune = time.monotonic()
        except DatabaseError as exc:
            logger.warning("applier: database unavailable (%s); retrying", exc)
            close_old_connections()
            stop.wait(1.0)
            continue
        except Exception:
            logger.exception("applier: batch failed; retrying")
            stop.wait(1.0)
            continue
        if result.claimed == 0 or result.applied == 0:
            inbox.recorded.wait(wait)
    close_old_connections()
