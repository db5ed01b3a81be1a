"""The audit log: filter, page through, export the filtered view as CSV. Read-only."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.views.decorators.http import require_GET

from accounts.access import Action
from accounts.decorators import staff_required
from monitoring.models import AuditEntry, AuditOutcome, Room
from monitoring.moderation import selectors

PAGE_SIZE = 50
FIELD_MAX = 256
CSV_COLUMNS = (
    "time",
    "actor",
    "role",
    "action",
    "room",
    "room_sid",
    "identity",
    "reason",
    "outcome",
    "error",
    "evidence",
)
# A spreadsheet runs a cell starting with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# What each audit action is called on the page (the CSV keeps the codes).
ACTION_LABELS: dict[str, str] = {
    "room.end": "Ended stream",
    "room.warn": "Warned room",
    "participant.kick": "Kicked",
    "participant.mute": "Muted",
    "participant.unmute": "Unmuted",
    "participant.revoke_publishing": "Revoked publishing",
    "participant.restore_publishing": "Allowed publishing",
    "participant.warn": "Warned",
    "ban.create": "Banned",
    "ban.lift": "Lifted ban",
    "ban.enforce": "Enforced ban",
    "api_key.create": "Created API key",
    "api_key.revoke": "Revoked API key",
    "restriction.create": "Restricted",
    "restriction.apply": "Applied restriction",
    "restriction.reapply": "Reapplied restriction",
    "restriction.lift": "Lifted restriction",
    "restriction.expire": "Restriction expired",
    "restriction.restore": "Restored after restriction",
    "report.file": "Report filed",
    "case.claim": "Claimed case",
    "case.claim_lapsed": "Case claim lapsed",
    "case.release": "Released case",
    "case.resolve": "Resolved case",
    "case.dismiss": "Dismissed case",
    "alert.fire": "Alert fired",
    "alerts.settings": "Changed alert settings",
    "watch.start": "Started watching",
    "watch.end": "Stopped watching",
    "evidence.capture": "Captured a frame",
}
_SCOPES = {"audio": "all audio", "video": "all video", "track": "one track"}


def action_label(action: str) -> str:
    """A human label for an audit action code ("participant.kick" -> "Kicked")."""
    if action in ACTION_LABELS:
        return ACTION_LABELS[action]
    words = action.replace(".", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:] if words else "—"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def action_target(entry: AuditEntry) -> str:
    """What was done to what, in words: "Camera of user_7", "user_7, everywhere"."""
    from monitoring.wording import source_name

    detail = entry.detail if isinstance(entry.detail, dict) else {}
    who = entry.identity
    action = entry.action
    if action in ("participant.mute", "participant.unmute"):
        sources = [source_name(s) for s in detail.get("sources") or []]
        what = ", ".join(sources) if sources else _SCOPES.get(str(detail.get("scope")), "tracks")
        return f"{what} of {who}" if who else what
    if action in ("participant.warn", "room.warn"):
        message = str(detail.get("message") or "")
        target = who or "everyone in the room"
        return f"{target}: “{message[:120]}”" if message else target
    if action == "room.end":
        stopped = len(detail.get("egress_stopped") or [])
        return "the stream" + (f"; {_plural(stopped, 'recording')} stopped" if stopped else "")
    if action.startswith("ban."):
        room = f"in {entry.room_name}" if entry.room_name else "in one room"
        where = "everywhere" if detail.get("scope") == "global" else room
        text = f"{who}, {where}" if who else where
        if action == "ban.create":
            expires = detail.get("expires_at")
            text += f", until {str(expires)[:16].replace('T', ' ')}" if expires else ", permanently"
        if action == "ban.enforce":
            text += " (removed again on rejoining)"
        return text
    if action in ("watch.start", "watch.end"):
        return f"the live preview as {who}" if who else "the live preview"
    if action.startswith("api_key."):
        name, prefix = detail.get("name") or "", detail.get("prefix") or ""
        return f"{name} ({prefix}…)" if prefix else str(name)
    return who


@dataclass(frozen=True)
class AuditRow:
    entry: AuditEntry
    label: str
    target: str
    room_id: int | None
    evidence: tuple[int, ...] = ()


def evidence_ids(entry: AuditEntry) -> tuple[int, ...]:
    """The evidence frames an audit row names (captured, or attached to an action)."""
    detail = entry.detail if isinstance(entry.detail, dict) else {}
    ids = detail.get("evidence") or []
    return tuple(i for i in ids if isinstance(i, int)) if isinstance(ids, list) else ()


def audit_rows(entries: Any) -> list[AuditRow]:
    """The page's rows: labels, what was done to what, and a link to each room session
    (one query for every room on the page)."""
    entries = list(entries)
    sids = {e.room_sid for e in entries if e.room_sid}
    room_ids = dict(Room.objects.filter(sid__in=sids).values_list("sid", "pk")) if sids else {}
    # Rows that name a room but no session (bans) link to its latest session.
    names = {e.room_name for e in entries if e.room_name and not e.room_sid}
    latest: dict[str, int] = {}
    for name, pk in (
        Room.objects.filter(name__in=names).order_by("created_at", "pk").values_list("name", "pk")
        if names
        else ()
    ):
        latest[name] = pk
    return [
        AuditRow(
            entry=e,
            label=action_label(e.action),
            target=action_target(e),
            room_id=room_ids.get(e.room_sid) if e.room_sid else latest.get(e.room_name),
            evidence=evidence_ids(e),
        )
        for e in entries
    ]


class InvalidFilter(ValueError):
    pass


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""
    action: str = ""
    room: str = ""
    identity: str = ""
    outcome: str = ""
    since: datetime | None = None
    until: datetime | None = None

    def as_params(self) -> dict[str, str]:
        params = {
            "actor": self.actor,
            "action": self.action,
            "room": self.room,
            "identity": self.identity,
            "outcome": self.outcome,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
        }
        return {key: value for key, value in params.items() if value}


def _text(params: Any, name: str) -> str:
    value = str(params.get(name, "")).strip()
    if len(value) > FIELD_MAX:
        raise InvalidFilter(f"The {name} filter is too long (at most {FIELD_MAX} characters).")
    return value


def _moment(params: Any, name: str, *, end_of_day: bool = False) -> datetime | None:
    value = _text(params, name)
    if not value:
        return None
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise InvalidFilter(
                f"The {name} time is not a date or time (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)."
            )
        moment = datetime.combine(day, datetime.max.time() if end_of_day else datetime.min.time())
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def audit_filter_parse(*, params: Any) -> AuditFilter:
    outcome = _text(params, "outcome")
    if outcome and outcome not in AuditOutcome.values:
        raise InvalidFilter("The outcome filter must be done or failed.")
    since = _moment(params, "since")
    until = _moment(params, "until", end_of_day=True)
    if since and until and since > until:
        raise InvalidFilter("The time range ends before it starts.")
    return AuditFilter(
        actor=_text(params, "actor"),
        action=_text(params, "action"),
        room=_text(params, "room"),
        identity=_text(params, "identity"),
        outcome=outcome,
        since=since,
        until=until,
    )


def csv_safe(value: Any) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_rows(entries: QuerySet[AuditEntry]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for entry in entries.iterator(chunk_size=1000):
        yield writer.writerow(
            [
                csv_safe(value)
                for value in (
                    entry.created_at.isoformat(),
                    entry.actor_name,
                    entry.actor_role,
                    entry.action,
                    entry.room_name,
                    entry.room_sid,
                    entry.identity,
                    entry.reason,
                    entry.outcome,
                    entry.error,
                    " ".join(
                        reverse("monitoring:evidence", args=[pk]) for pk in evidence_ids(entry)
                    ),
                )
            ]
        )


def _bad_filter(request: HttpRequest, exc: InvalidFilter) -> HttpResponse:
    return render(
        request,
        "monitoring/audit.html",
        {"nav": "audit", "error": str(exc), "page": None, "query": AuditFilter(), **_choices()},
        status=400,
    )


def _choices() -> dict[str, Any]:
    choices = selectors.audit_filter_choices()
    return {
        **choices,
        "action_options": [(code, action_label(code)) for code in choices["action_choices"]],
        "outcome_choices": AuditOutcome.choices,
    }


@require_GET
@staff_required(Action.VIEW_AUDIT)
def audit_list(request: HttpRequest) -> HttpResponse:
    try:
        query = audit_filter_parse(params=request.GET)
    except InvalidFilter as exc:
        return _bad_filter(request, exc)
    paginator = Paginator(selectors.audit_entries_filter(**asdict(query)), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    params = query.as_params()

    def page_url(number: int) -> str:
        return "?" + urlencode({**params, "page": number})

    context = {
        "nav": "audit",
        "query": query,
        "page": page,
        "rows": audit_rows(page.object_list),
        "filtered": bool(params),
        "since_value": query.since.strftime("%Y-%m-%dT%H:%M") if query.since else "",
        "until_value": query.until.strftime("%Y-%m-%dT%H:%M") if query.until else "",
        "previous_url": page_url(page.number - 1) if page.has_previous() else "",
        "next_url": page_url(page.number + 1) if page.has_next() else "",
        "export_query": urlencode(params),
        **_choices(),
    }
    template = "monitoring/audit.html"
    if getattr(request, "htmx", False) and not request.htmx.boosted:
        template += "#audit-results"
    return render(request, template, context)


@require_GET
@staff_required(Action.VIEW_AUDIT)
def audit_export(request: HttpRequest) -> HttpResponse:
    try:
        query = audit_filter_parse(params=request.GET)
    except InvalidFilter as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    response = StreamingHttpResponse(
        _csv_rows(selectors.audit_entries_filter(**asdict(query))),
        content_type="text/csv; charset=utf-8",
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="roomwatch-audit-{stamp}.csv"'
    return response
