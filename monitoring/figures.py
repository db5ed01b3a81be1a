"""The summary figures at the top of the room list and the wall: one aggregate query.

Live rooms, people watching (everyone in an open room who is not publishing),
publishers, rooms recording now, and open cases once the report queue exists
(``monitoring.models.cases``, built separately: counted only when it is installed).
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Count, Q, Sum

from monitoring.models import Room, RoomStatus

logger = logging.getLogger(__name__)
OPEN_STATUSES = (RoomStatus.IDLE, RoomStatus.LIVE, RoomStatus.WAITING_RECONNECT)


@dataclass(frozen=True)
class SummaryFigures:
    live_rooms: int
    watching: int
    publishers: int
    recording: int
    # None while the console has no case queue.
    open_cases: int | None = None


def summary_figures_get() -> SummaryFigures:
    totals = Room.objects.filter(status__in=OPEN_STATUSES).aggregate(
        live=Count("pk", filter=Q(status=RoomStatus.LIVE)),
        people=Sum("num_participants"),
        publishers=Sum("num_publishers"),
        recording=Count("pk", filter=Q(active_recording=True)),
    )
    people, publishers = totals["people"] or 0, totals["publishers"] or 0
    return SummaryFigures(
        live_rooms=totals["live"] or 0,
        watching=max(people - publishers, 0),
        publishers=publishers,
        recording=totals["recording"] or 0,
        open_cases=_open_cases(),
    )


def _open_cases() -> int | None:
    """Open cases in the report queue, when that feature is installed."""
    try:
        cases = importlib.import_module("monitoring.models.cases")
    except ImportError:
        return None
    model = getattr(cases, "Case", None)
    if model is None:
        return None
    try:
        # A savepoint: a queue table not migrated yet must not break the page's transaction.
        with transaction.atomic():
            return _count_open(model)
    except Exception:  # the queue is another feature: never take the page down with it
        logger.exception("could not count open cases")
        return None


def _count_open(model: Any) -> int | None:
    manager = model.objects
    if hasattr(manager, "open"):
        return int(manager.open().count())
    names = {f.name for f in model._meta.get_fields()}
    field = "state" if "state" in names else "status" if "status" in names else None
    if field is None:
        return None
    return int(manager.filter(**{field: "open"}).count())
