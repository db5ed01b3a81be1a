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
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.views.decorators.http import require_GET

from accounts.access import Action
from accounts.decorators import staff_required
from monitoring.models import AuditEntry, AuditOutcome
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
)
# A spreadsheet runs a cell starting with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


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
    return {**selectors.audit_filter_choices(), "outcome_choices": AuditOutcome.choices}


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
