"""Reads for the queue: open cases by priority, one case with its target's live state,
and response figures. Each read makes a fixed number of queries however many cases."""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Case as When_
from django.db.models import F, IntegerField, QuerySet, Value, When
from django.db.models.functions import Coalesce, Least
from django.utils import timezone

from monitoring.models import AuditEntry, Ban, Case, CaseState, Participant, Report
from monitoring.queue import categories, services

QUEUE_LIMIT = 50
REPORTS_LIMIT = 100
HISTORY_LIMIT = 20
# Priority = severity x 100 + distinct reporters (at most 10) x 15 + audience (at most
# 20 points: one per 50 people present) + recency (30 if reported in the last 15 min,
# 10 in the last hour). Ties: newest report first.
RECENT = timedelta(minutes=15)
LATELY = timedelta(hours=1)
CASE_ACTION_NAMES = (
    "room.end",
    "room.warn",
    "participant.kick",
    "participant.mute",
    "participant.revoke_publishing",
    "participant.warn",
    "ban.create",
    "ban.enforce",
)


def priority_expression(now: datetime) -> Any:
    audience = Least(Coalesce(F("room__num_participants"), Value(0)), Value(1000)) / Value(50)
    recency = When_(
        When(last_report_at__gte=now - RECENT, then=Value(30)),
        When(last_report_at__gte=now - LATELY, then=Value(10)),
        default=Value(0),
        output_field=IntegerField(),
    )
    return (
        F("severity") * Value(100)
        + Least(F("reporter_count"), Value(10)) * Value(15)
        + audience
        + recency
    )


def open_cases(*, now: datetime | None = None) -> QuerySet[Case]:
    now = now or timezone.now()
    return (
        Case.objects.filter(state=CaseState.OPEN)
        .select_related("room", "claimed_by")
        .annotate(priority=priority_expression(now))
        .order_by("-priority", "-last_report_at", "-pk")
    )


@dataclass
class QueueView:
    cases: list[Case]
    total_open: int
    idle: timedelta
    now: datetime


def queue_view(*, limit: int = QUEUE_LIMIT, now: datetime | None = None) -> QueueView:
    """The top of the queue: four queries (settings, ranking, the shown cases, count)."""
    now = now or timezone.now()
    idle = services.claim_idle()
    # Rank on narrow rows (ids and the priority only), then load the few shown in full:
    # sorting 10,000 whole rows (JSON columns and all) is what would make this slow.
    ranked = list(open_cases(now=now).values_list("pk", "priority")[:limit])
    by_id = {
        case.pk: case
        for case in Case.objects.filter(pk__in=[pk for pk, _ in ranked]).select_related(
            "room", "claimed_by"
        )
    }
    cases = []
    for pk, priority in ranked:
        if pk in by_id:
            by_id[pk].priority = priority  # type: ignore[attr-defined]
            cases.append(by_id[pk])
    for case in cases:
        case.claim_live = services.claim_is_live(case, now=now, idle=idle)  # type: ignore[attr-defined]
        case.category_labels = [categories.label(c) for c in case.categories]  # type: ignore[attr-defined]
        case.pk_str = f"{case.pk}/"  # type: ignore[attr-defined]
    return QueueView(
        cases=cases,
        total_open=Case.objects.filter(state=CaseState.OPEN).count(),
        idle=idle,
        now=now,
    )


def open_count() -> int:
    return Case.objects.filter(state=CaseState.OPEN).count()


@dataclass
class TargetState:
    in_room: bool = False
    publishing: bool = False
    audience: int = 0
    room_status: str = ""
    bans_before: int = 0
    banned_now: bool = False
    previous_cases: list[Case] = field(default_factory=list)
    actions: list[AuditEntry] = field(default_factory=list)


@dataclass
class CaseDetail:
    case: Case
    reports: list[Report]
    reporters: int
    excerpts: list[Report]
    evidence: list[Report]
    category_labels: list[str]
    target: TargetState
    claim_live: bool
    reason_preset: str


def case_detail(*, case_id: int, now: datetime | None = None) -> CaseDetail | None:
    now = now or timezone.now()
    case = (
        Case.objects.select_related("room", "claimed_by", "action_entry").filter(pk=case_id).first()
    )
    if case is None:
        return None
    reports = list(case.reports.order_by("-received_at", "-pk")[:REPORTS_LIMIT])
    return CaseDetail(
        case=case,
        reports=reports,
        reporters=case.reporter_count,
        excerpts=[r for r in reports if r.excerpt],
        evidence=[r for r in reports if r.evidence_url],
        category_labels=[categories.label(c) for c in case.categories],
        target=target_state(case=case, now=now),
        claim_live=services.claim_is_live(case, now=now),
        reason_preset=categories.reason_preset(list(case.categories)),
    )


def target_state(*, case: Case, now: datetime) -> TargetState:
    """The target as the mirror and the audit log know it now."""
    state = TargetState()
    room = case.room
    if room is not None:
        state.room_status = room.status
        state.audience = room.num_participants
        if case.identity:
            present = Participant.objects.filter(
                room=room, identity=case.identity, left_at__isnull=True
            ).first()
            state.in_room = present is not None
            state.publishing = bool(present and present.is_publisher and present.tracks)
        else:
            state.in_room = room.is_open
            state.publishing = room.num_publishers > 0
    if case.identity:
        bans = Ban.objects.filter(identity=case.identity)
        state.bans_before = bans.count()
        state.banned_now = Ban.objects.applying_to(
            identity=case.identity, room_name=case.room_name, now=now
        ).exists()
    if case.room_name:
        state.previous_cases = list(
            Case.objects.filter(room_name=case.room_name, identity=case.identity)
            .exclude(pk=case.pk)
            .order_by("-opened_at")[:HISTORY_LIMIT]
        )
        entries = AuditEntry.objects.filter(room_name=case.room_name, action__in=CASE_ACTION_NAMES)
        if case.identity:
            entries = entries.filter(identity=case.identity)
        state.actions = list(entries[:HISTORY_LIMIT])
    return state


# ------------------------------------------------------------------ response figures


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile (the median is 0.5): a value that actually occurred."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Figures:
    label: str
    cases: int
    claim_median: float | None
    claim_p90: float | None
    resolve_median: float | None
    resolve_p90: float | None


@dataclass
class ResponseFigures:
    periods: list[Figures]
    moderators: list[tuple[str, Figures]]


def _seconds(later: datetime | None, earlier: datetime) -> float | None:
    return (later - earlier).total_seconds() if later is not None else None


def _figures(label: str, rows: Iterable[Case]) -> Figures:
    rows = list(rows)
    claims = [
        s for s in (_seconds(c.first_claimed_at, c.first_report_at) for c in rows) if s is not None
    ]
    closes = [s for s in (_seconds(c.closed_at, c.first_report_at) for c in rows) if s is not None]
    return Figures(
        label=label,
        cases=len(rows),
        claim_median=percentile(claims, 0.5),
        claim_p90=percentile(claims, 0.9),
        resolve_median=percentile(closes, 0.5),
        resolve_p90=percentile(closes, 0.9),
    )


def closed_cases(*, since: datetime) -> QuerySet[Case]:
    return (
        Case.objects.filter(closed_at__gte=since)
        .exclude(state=CaseState.OPEN)
        .order_by("-closed_at")
    )


def response_figures(*, now: datetime | None = None) -> ResponseFigures:
    """Median and 90th percentile of first report -> claim and -> close, for today
    (since local midnight) and the last 7 days, overall and per moderator who closed."""
    now = now or timezone.now()
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    week = list(
        closed_cases(since=now - timedelta(days=7)).only(
            "first_report_at", "first_claimed_at", "closed_at", "closed_by_name"
        )
    )
    by_moderator: dict[str, list[Case]] = defaultdict(list)
    for case in week:
        by_moderator[case.closed_by_name or "?"].append(case)
    return ResponseFigures(
        periods=[
            _figures("Today", [c for c in week if c.closed_at and c.closed_at >= today]),
            _figures("Last 7 days", week),
        ],
        moderators=[(name, _figures(name, rows)) for name, rows in sorted(by_moderator.items())],
    )


CSV_COLUMNS = (
    "case_id",
    "target_room",
    "target_identity",
    "state",
    "reports",
    "distinct_reporters",
    "categories",
    "first_report_at",
    "first_claimed_at",
    "first_claimed_by",
    "closed_at",
    "closed_by",
    "seconds_to_claim",
    "seconds_to_close",
    "action_audit_id",
    "close_reason",
)


def _safe(value: Any) -> str:
    """Cells a spreadsheet would run as a formula are quoted."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def figures_csv(*, days: int = 7, now: datetime | None = None) -> str:
    now = now or timezone.now()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for case in closed_cases(since=now - timedelta(days=days)):
        claim = _seconds(case.first_claimed_at, case.first_report_at)
        close = _seconds(case.closed_at, case.first_report_at)
        writer.writerow(
            [
                _safe(v)
                for v in (
                    case.pk,
                    case.room_name,
                    case.identity,
                    case.state,
                    case.report_count,
                    case.reporter_count,
                    " ".join(case.categories),
                    case.first_report_at.isoformat(),
                    case.first_claimed_at.isoformat() if case.first_claimed_at else "",
                    case.first_claimed_by_name,
                    case.closed_at.isoformat() if case.closed_at else "",
                    case.closed_by_name,
                    f"{claim:.0f}" if claim is not None else "",
                    f"{close:.0f}" if close is not None else "",
                    case.action_entry_id or "",
                    case.close_reason,
                )
            ]
        )
    return out.getvalue()
