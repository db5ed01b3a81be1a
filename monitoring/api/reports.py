"""``POST /api/v1/reports``: the platform sends a viewer's report (docs/openapi.yaml).

Same key auth, error shapes and strict parameters as the ban API. ``report_id`` is
the platform's own id: sending it again (a retry) creates nothing and answers the
stored report with 200 instead of 201.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, JsonResponse
from django.utils.dateparse import parse_datetime

from monitoring.api.views import ApiError, _json_body, _only_params, api_endpoint
from monitoring.models import ApiKey, Case, Report
from monitoring.queue import services

FIELDS = frozenset(
    {
        "report_id",
        "room",
        "identity",
        "reporter",
        "category",
        "text",
        "excerpt",
        "evidence_url",
        "at",
    }
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def report_json(report: Report, case: Case) -> dict[str, Any]:
    return {
        "report": {
            "report_id": report.report_id,
            "room": report.room_name,
            "identity": report.identity or None,
            "reporter": report.reporter,
            "category": report.category,
            "text": report.text or None,
            "excerpt": report.excerpt or None,
            "evidence_url": report.evidence_url or None,
            "at": _iso(report.reported_at),
            "received_at": _iso(report.received_at),
        },
        "case": {
            "id": case.pk,
            "state": case.state,
            "reports": case.report_count,
            "reporters": case.reporter_count,
        },
    }


def _at(data: dict[str, Any]) -> datetime | None:
    raw = data.get("at")
    if raw is None:
        return None
    parsed = parse_datetime(raw) if isinstance(raw, str) else None
    if parsed is None or parsed.tzinfo is None:
        raise ApiError(
            422,
            "validation_failed",
            "'at' must be an ISO 8601 date-time with a time zone, e.g. 2030-01-31T12:00:00Z.",
            field="at",
        )
    return parsed


@api_endpoint("POST")
def report_create(request: HttpRequest, api_key: ApiKey) -> JsonResponse:
    _only_params(request)
    data = _json_body(request)
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise ApiError(422, "validation_failed", f"Unknown field(s): {', '.join(unknown)}.")
    try:
        intake = services.report_receive(
            report_id=data.get("report_id"),
            room_name=data.get("room"),
            identity=data.get("identity"),
            reporter=data.get("reporter"),
            category=data.get("category"),
            text=data.get("text"),
            excerpt=data.get("excerpt"),
            evidence_url=data.get("evidence_url"),
            reported_at=_at(data),
            api_key=api_key,
        )
    except ValidationError as exc:
        field = exc.code if isinstance(exc.code, str) else None
        extra = {"field": field} if field else {}
        raise ApiError(422, "validation_failed", " ".join(exc.messages), **extra) from None
    return JsonResponse(
        report_json(intake.report, intake.case), status=201 if intake.created else 200
    )
