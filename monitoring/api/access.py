"""``GET /api/v1/access/check``: what a join token for an identity and a room must say.

The token server asks before it issues a LiveKit token: refuse it while a ban applies,
and otherwise leave out the grants that active restrictions forbid, so a restricted
participant joins already restricted instead of being restricted after it joined.
Described in docs/openapi.yaml.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.utils import timezone

from monitoring.api.views import ApiError, _only_params, _param, api_endpoint, ban_json
from monitoring.models import ApiKey, Restriction
from monitoring.moderation import selectors
from monitoring.moderation.restrictions import grants_left_out


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def restriction_json(restriction: Restriction) -> dict[str, Any]:
    return {
        "id": restriction.pk,
        "identity": restriction.identity,
        "kind": restriction.kind,
        "scope": restriction.scope,
        "room": restriction.room_name or None,
        "reason": restriction.reason,
        "created_at": _iso(restriction.created_at),
        "created_by": restriction.created_by_name,
        "expires_at": _iso(restriction.expires_at),
        "rejoin_count": restriction.rejoin_count,
        "last_rejoin_at": _iso(restriction.last_rejoin_at),
    }


@api_endpoint("GET")
def access_check(request: HttpRequest, api_key: ApiKey) -> JsonResponse:
    """Refuse the token, or issue it without the grants restrictions forbid?"""
    _only_params(request, "identity", "room")
    identity = _param(request, "identity")
    room = _param(request, "room")
    if not identity:
        raise ApiError(400, "missing_parameter", "The 'identity' parameter is required.")
    if not room:
        raise ApiError(400, "missing_parameter", "The 'room' parameter is required.")
    now = timezone.now()
    ban = selectors.ban_applying(identity=identity, room_name=room)
    restrictions = list(
        Restriction.objects.applying_to(identity=identity, room_name=room, now=now).order_by(
            "created_at", "pk"
        )
    )
    return JsonResponse(
        {
            "refuse": ban is not None,
            "reason": ban.reason if ban else None,
            "ban": ban_json(ban, now=now) if ban else None,
            "restrictions": [restriction_json(r) for r in restrictions],
            "leave_out": grants_left_out(kinds=[r.kind for r in restrictions]),
        }
    )
