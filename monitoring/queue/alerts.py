"""Alert rules, evaluated as events arrive (never when a page is viewed).

- **Report surge**: at least N distinct reporters on one room within M minutes
  (checked on each report received).
- **Join surge** (a raid): at least X participants joined one room within Y seconds
  (checked on each applied webhook batch, ``after_apply``).
- **Banned identity rejoining**: at least K ``ban.enforce`` removals of one identity
  within M minutes (after each applied batch: enforcement runs on the batch's commit).
- **Console health**: LiveKit unreachable, or more reconciler corrections in one pass
  than the threshold (``health_observe``, called by the reconciler after each pass).

A rule that fires opens or updates its target's case once per open case (see
``services.alert_fire``) and, when configured, notifies an outside URL.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db.models import Count
from django.utils import timezone

from monitoring.models import AuditEntry, Report, ReportSource, Room, RoomEvent, SyncState
from monitoring.queue import categories, services

if TYPE_CHECKING:
    from monitoring.live.applier import AppliedEvent

logger = logging.getLogger(__name__)

RECONCILED_KIND = "reconciled"
_last_sweep = [0.0]
SWEEP_EVERY_SECONDS = 30.0


def report_surge_check(*, room_name: str, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    rules = services.alert_settings()
    since = now - timedelta(minutes=rules.report_surge_minutes)
    reporters = (
        Report.objects.filter(room_name=room_name, received_at__gte=since)
        .exclude(source=ReportSource.ALERT)
        .values("reporter")
        .distinct()
        .count()
    )
    if reporters < rules.report_surge_reporters:
        return False
    services.alert_fire(
        rule=categories.ALERT_REPORT_SURGE,
        room_name=room_name,
        detail={
            "summary": f"{reporters} people reported this room within "
            f"{rules.report_surge_minutes} min",
            "reporters": reporters,
            "minutes": rules.report_surge_minutes,
        },
        now=now,
    )
    return True


def after_apply(events: list[AppliedEvent]) -> None:
    """The applier's hook: evaluate the webhook-driven rules on a committed batch."""
    joins: dict[int, list[AppliedEvent]] = defaultdict(list)
    for event in events:
        if event.kind == "participant_joined":
            joins[event.room_id].append(event)
    if joins:
        rules = services.alert_settings()
        now = timezone.now()
        _join_surge(joins, rules=rules, now=now)
        _banned_rejoin(joins, rules=rules, now=now)
    if time.monotonic() - _last_sweep[0] > SWEEP_EVERY_SECONDS:
        _last_sweep[0] = time.monotonic()
        services.claims_expire()


def _join_surge(joins: dict[int, list[AppliedEvent]], *, rules, now: datetime) -> None:  # type: ignore[no-untyped-def]
    window = timedelta(seconds=rules.join_surge_seconds)
    names = dict(Room.objects.filter(pk__in=list(joins)).values_list("pk", "name"))
    for room_id, batch in joins.items():
        latest = max(e.occurred_at for e in batch)
        joined = RoomEvent.objects.filter(
            room_id=room_id, kind="participant_joined", occurred_at__gte=latest - window
        ).count()
        if joined >= rules.join_surge_count and room_id in names:
            services.alert_fire(
                rule=categories.ALERT_JOIN_SURGE,
                room_name=names[room_id],
                detail={
                    "summary": f"{joined} joins within {rules.join_surge_seconds} s",
                    "joins": joined,
                    "seconds": rules.join_surge_seconds,
                },
                now=now,
            )


def _banned_rejoin(joins: dict[int, list[AppliedEvent]], *, rules, now: datetime) -> None:  # type: ignore[no-untyped-def]
    identities = {e.identity for batch in joins.values() for e in batch if e.identity}
    if not identities:
        return
    since = now - timedelta(minutes=rules.rejoin_minutes)
    counted = (
        AuditEntry.objects.filter(
            action="ban.enforce", identity__in=identities, created_at__gte=since
        )
        .values("identity", "room_name")
        .annotate(n=Count("pk"))
    )
    for row in counted:
        if row["n"] >= rules.rejoin_count and row["room_name"]:
            services.alert_fire(
                rule=categories.ALERT_BANNED_REJOIN,
                room_name=row["room_name"],
                identity=row["identity"],
                detail={
                    "summary": f"removed {row['n']} times within {rules.rejoin_minutes} min "
                    "(banned, and rejoining)",
                    "enforcements": row["n"],
                    "minutes": rules.rejoin_minutes,
                },
                now=now,
            )


def health_observe(*, error: str = "") -> None:
    """The reconciler's pass ended (``error`` when LiveKit could not be reached).

    Called before the pass is recorded, so the previous pass's time bounds the
    corrections this pass made. Never raises: the reconciler must keep running.
    """
    try:
        # Each pass (every ROOMWATCH_SYNC_INTERVAL_SECONDS) also releases idle claims,
        # so they lapse on a quiet console too, not only when webhooks arrive.
        services.claims_expire()
        now = timezone.now()
        state = SyncState.objects.filter(pk=1).first()
        if error:
            # Once per outage: the first failed pass after a good one (or ever).
            ongoing = (
                state is not None
                and state.last_error_at is not None
                and (state.last_success_at is None or state.last_error_at > state.last_success_at)
            )
            if ongoing:
                return
            services.alert_fire(
                rule=categories.ALERT_LIVEKIT_DOWN,
                room_name="",
                detail={"summary": f"LiveKit unreachable: {error[:300]}"},
                now=now,
            )
            return
        rules = services.alert_settings()
        since = (state.last_success_at if state and state.last_success_at else None) or (
            now - timedelta(minutes=1)
        )
        corrections = RoomEvent.objects.filter(kind=RECONCILED_KIND, received_at__gte=since).count()
        if corrections >= rules.corrections_threshold:
            services.alert_fire(
                rule=categories.ALERT_CORRECTIONS,
                room_name="",
                detail={
                    "summary": f"the reconciler corrected {corrections} rooms in one pass",
                    "corrections": corrections,
                },
                now=now,
            )
    except Exception:
        logger.exception("queue: health alert check failed")
