"""JSON endpoints for the platform's token server. Described in docs/openapi.yaml.

Every answer is JSON; every error reads ``{"error": {"code", "message"}}`` with the
matching status: 400 bad parameters or body, 401 missing/invalid/revoked key, 404,
405, 409 conflicting state, 413 body too large, 415 not JSON, 422 validation.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, ValidationError
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt

from config.proxy import client_address
from monitoring.api import throttle
from monitoring.models import ApiKey, Ban, BanScope
from monitoring.moderation import bans, selectors
from monitoring.moderation.api_keys import ApiKeyInvalid, api_key_authenticate

PAGE_SIZE_DEFAULT = 50
PAGE_SIZE_MAX = 200


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def error_response(
    status: int, code: str, message: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JsonResponse:
    body: dict[str, Any] = {"error": {"code": code, "message": message, **extra}}
    return JsonResponse(body, status=status, headers=headers)


def _too_many(retry_after: int) -> JsonResponse:
    return error_response(
        429,
        "too_many_attempts",
        f"Too many invalid API keys from this address; try again in {retry_after} s.",
        headers={"Retry-After": str(retry_after)},
    )


def api_endpoint(*methods: str) -> Callable[..., Any]:
    """Method check, API-key authentication and JSON errors around an endpoint."""

    def decorator(view: Callable[..., JsonResponse]) -> Callable[..., JsonResponse]:
        @csrf_exempt  # bearer keys, not cookies: there is no session to forge requests with
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
            if request.method not in methods:
                return error_response(
                    405,
                    "method_not_allowed",
                    f"{request.method} is not allowed here; use {', '.join(methods)}.",
                    headers={"Allow": ", ".join(methods)},
                )
            address = client_address(request)
            retry_after = throttle.api_key_retry_after(address=address)
            if retry_after is not None:
                return _too_many(retry_after)
            try:
                api_key = api_key_authenticate(authorization=request.headers.get("Authorization"))
            except ApiKeyInvalid as exc:
                locked = throttle.api_key_failure_note(address=address, path=request.path)
                if locked is not None:
                    return _too_many(locked)
                return error_response(
                    401, "unauthenticated", str(exc), headers={"WWW-Authenticate": "Bearer"}
                )
            try:
                return view(request, api_key, *args, **kwargs)
            except ApiError as exc:
                return error_response(exc.status, exc.code, exc.message, **exc.extra)

        wrapper.__name__ = view.__name__
        wrapper.__doc__ = view.__doc__
        return wrapper

    return decorator


def ban_json(ban: Ban, *, now: datetime | None = None) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat().replace("+00:00", "Z") if value else None

    return {
        "id": ban.pk,
        "identity": ban.identity,
        "scope": ban.scope,
        "room": ban.room_name or None,
        "reason": ban.reason,
        "state": selectors.ban_state(ban=ban, now=now),
        "created_at": iso(ban.created_at),
        "created_by": ban.created_by_name,
        "expires_at": iso(ban.expires_at),
        "lifted_at": iso(ban.lifted_at),
        "lifted_by": ban.lifted_by_name or None,
        "lift_reason": ban.lift_reason or None,
        "rejoin_count": ban.rejoin_count,
        "last_rejoin_at": iso(ban.last_rejoin_at),
    }


def _param(request: HttpRequest, name: str, *, max_length: int = 256) -> str:
    values = request.GET.getlist(name)
    if len(values) > 1:
        raise ApiError(400, "bad_parameter", f"Give '{name}' at most once.")
    value = values[0].strip() if values else ""
    if len(value) > max_length:
        raise ApiError(400, "bad_parameter", f"'{name}' must be at most {max_length} characters.")
    return value


def _only_params(request: HttpRequest, *allowed: str) -> None:
    """Refuse query parameters this endpoint does not take: a misspelt ``room`` must not
    quietly turn a room check into a global-only check."""
    unknown = sorted(set(request.GET) - set(allowed))
    if unknown:
        takes = ", ".join(allowed) if allowed else "no query parameters"
        raise ApiError(
            400,
            "bad_parameter",
            f"Unknown parameter(s): {', '.join(unknown)}. This endpoint takes {takes}.",
        )


def _int_param(request: HttpRequest, name: str, *, default: int, low: int, high: int) -> int:
    raw = _param(request, name, max_length=12)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "bad_parameter", f"'{name}' must be a whole number.") from None
    if not low <= value <= high:
        raise ApiError(400, "bad_parameter", f"'{name}' must be between {low} and {high}.")
    return value


def _json_body(request: HttpRequest, *, optional: bool = False) -> dict[str, Any]:
    try:
        raw = request.body
    except RequestDataTooBig:
        raise ApiError(413, "payload_too_large", "The request body is too large.") from None
    if optional and not raw:
        return {}
    if request.content_type != "application/json":
        raise ApiError(
            415,
            "unsupported_media_type",
            "Send the body as JSON with 'Content-Type: application/json'.",
        )
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "malformed_json", "The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "malformed_json", "The request body must be a JSON object.")
    return data


def _string_field(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ApiError(422, "validation_failed", f"'{name}' must be a string.", field=name)
    return value


def _get_ban(ban_id: int) -> Ban:
    ban = Ban.objects.filter(pk=ban_id).first()
    if ban is None:
        raise ApiError(404, "not_found", f"There is no ban #{ban_id}.")
    return ban


@api_endpoint("GET")
def ban_check(request: HttpRequest, api_key: ApiKey) -> JsonResponse:
    """Should the token server refuse ``identity`` a token for ``room``?"""
    _only_params(request, "identity", "room")
    identity = _param(request, "identity")
    room = _param(request, "room")
    if not identity:
        raise ApiError(400, "missing_parameter", "The 'identity' parameter is required.")
    ban = selectors.ban_applying(identity=identity, room_name=room)
    return JsonResponse(
        {
            "banned": ban is not None,
            "ban": ban_json(ban) if ban else None,
            "reason": ban.reason if ban else None,
        }
    )


@api_endpoint("GET", "POST")
def ban_collection(request: HttpRequest, api_key: ApiKey) -> JsonResponse:
    if request.method == "POST":
        return _ban_create(request, api_key)
    _only_params(request, "identity", "room", "scope", "state", "page", "page_size")
    scope = _param(request, "scope")
    if scope and scope not in BanScope.values:
        raise ApiError(400, "bad_parameter", "'scope' must be 'global' or 'room'.")
    state = _param(request, "state") or selectors.BanState.ACTIVE
    if state not in selectors.BanState.CHOICES:
        raise ApiError(
            400, "bad_parameter", f"'state' must be one of {', '.join(selectors.BanState.CHOICES)}."
        )
    page = _int_param(request, "page", default=1, low=1, high=1_000_000)
    size = _int_param(request, "page_size", default=PAGE_SIZE_DEFAULT, low=1, high=PAGE_SIZE_MAX)
    now = timezone.now()
    qs = selectors.bans_filter(
        identity=_param(request, "identity"),
        exact_identity=True,
        scope=scope,
        room_name=_param(request, "room"),
        state=state,
        now=now,
    )
    total = qs.count()
    items = list(qs[(page - 1) * size : page * size])
    return JsonResponse(
        {
            "items": [ban_json(b, now=now) for b in items],
            "page": page,
            "page_size": size,
            "total": total,
            "has_next": page * size < total,
        }
    )


def _expiry(data: dict[str, Any]) -> datetime | None:
    has_at = data.get("expires_at") is not None
    has_duration = data.get("duration_seconds") is not None
    if has_at and has_duration:
        raise ApiError(
            422, "validation_failed", "Give 'expires_at' or 'duration_seconds', not both."
        )
    if has_duration:
        seconds = data["duration_seconds"]
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds <= 0:
            raise ApiError(
                422,
                "validation_failed",
                "'duration_seconds' must be a positive whole number.",
                field="duration_seconds",
            )
        if seconds > 100 * 365 * 86400:
            raise ApiError(
                422,
                "validation_failed",
                "'duration_seconds' is too large; omit it for a permanent ban.",
                field="duration_seconds",
            )
        return timezone.now() + timedelta(seconds=seconds)
    if has_at:
        raw = data["expires_at"]
        parsed = parse_datetime(raw) if isinstance(raw, str) else None
        if parsed is None or timezone.is_naive(parsed):
            raise ApiError(
                422,
                "validation_failed",
                "'expires_at' must be an ISO 8601 date-time with a time zone, "
                "e.g. 2030-01-31T12:00:00Z.",
                field="expires_at",
            )
        return parsed
    return None


def _ban_create(request: HttpRequest, api_key: ApiKey) -> JsonResponse:
    data = _json_body(request)
    unknown = sorted(
        set(data) - {"identity", "scope", "room", "reason", "expires_at", "duration_seconds"}
    )
    if unknown:
        raise ApiError(422, "validation_failed", f"Unknown field(s): {', '.join(unknown)}.")
    scope = _string_field(data, "scope")
    if scope not in BanScope.values:
        raise ApiError(
            422, "validation_failed", "'scope' must be 'global' or 'room'.", field="scope"
        )
    room = _string_field(data, "room")
    if scope == BanScope.GLOBAL and room.strip():
        raise ApiError(
            422, "validation_failed", "A global ban names no room; omit 'room'.", field="room"
        )
    try:
        result = bans.ban_create(
            actor=None,
            api_key=api_key,
            identity=_string_field(data, "identity"),
            scope=scope,
            room_name=room,
            reason=_string_field(data, "reason"),
            expires_at=_expiry(data),
        )
    except ValidationError as exc:
        raise ApiError(422, "validation_failed", " ".join(exc.messages)) from None
    except bans.BanConflict as exc:
        extra = {"ban": ban_json(exc.existing)} if exc.existing else {}
        raise ApiError(409, "already_banned", str(exc), **extra) from None
    except PermissionDenied as exc:
        raise ApiError(401, "unauthenticated", str(exc)) from None
    return JsonResponse(
        {
            "ban": ban_json(result.ban),
            "enforcement": [
                {"room": r.room_name or None, "outcome": r.outcome, "error": r.error or None}
                for r in result.removals
            ],
        },
        status=201,
    )


@api_endpoint("GET", "DELETE")
def ban_detail(request: HttpRequest, api_key: ApiKey, ban_id: int) -> JsonResponse:
    if request.method == "DELETE":
        _only_params(request, "reason")
    else:
        _only_params(request)
    ban = _get_ban(ban_id)
    if request.method == "DELETE":
        data = _json_body(request, optional=True)
        reason = _string_field(data, "reason") or _param(request, "reason", max_length=2000)
        return _ban_lift(api_key, ban, reason)
    return JsonResponse({"ban": ban_json(ban)})


@api_endpoint("POST")
def ban_revoke(request: HttpRequest, api_key: ApiKey, ban_id: int) -> JsonResponse:
    ban = _get_ban(ban_id)
    data = _json_body(request)
    return _ban_lift(api_key, ban, _string_field(data, "reason"))


def _ban_lift(api_key: ApiKey, ban: Ban, reason: str) -> JsonResponse:
    try:
        lifted = bans.ban_lift(actor=None, api_key=api_key, ban=ban, reason=reason)
    except ValidationError as exc:
        raise ApiError(422, "validation_failed", " ".join(exc.messages), field="reason") from None
    except bans.BanNotActive as exc:
        raise ApiError(409, "not_active", str(exc)) from None
    return JsonResponse({"ban": ban_json(lifted)})


@csrf_exempt
def not_found(request: HttpRequest) -> JsonResponse:
    return error_response(404, "not_found", f"There is no API endpoint at {request.path}.")
