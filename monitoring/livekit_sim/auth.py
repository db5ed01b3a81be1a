"""Access tokens, checked the way LiveKit's auth middleware and services do."""

from __future__ import annotations

from typing import Any

import jwt

LEEWAY_SECONDS = 60


class AuthFailure(Exception):
    """Rejected by the auth middleware: LiveKit answers plain text, HTTP 401."""


class PermissionsDenied(Exception):
    """Missing token or grant: LiveKit answers Twirp `unauthenticated`, HTTP 401."""


def authenticate(header: str | None, keys: dict[str, str]) -> dict[str, Any] | None:
    """Return the token's claims, ``None`` without a header, or raise `AuthFailure`."""
    if not header:
        return None
    if not header.startswith("Bearer "):
        raise AuthFailure("invalid authorization header. Must start with Bearer ")
    token = header[len("Bearer ") :]
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
        jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise AuthFailure("invalid authorization token") from None
    secret = keys.get(str(unverified.get("iss", "")))
    if secret is None:
        raise AuthFailure("invalid API key")
    try:
        return jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp"], "verify_aud": False},
        )
    except jwt.PyJWTError as exc:
        raise AuthFailure(f"invalid authorization token: {exc}") from None


def video_grants(claims: dict[str, Any] | None) -> dict[str, Any]:
    if not claims:
        raise PermissionsDenied
    video = claims.get("video")
    return video if isinstance(video, dict) else {}


def require_grant(claims: dict[str, Any] | None, grant: str) -> None:
    if not video_grants(claims).get(grant):
        raise PermissionsDenied


def require_room_admin(claims: dict[str, Any] | None, room: str) -> None:
    video = video_grants(claims)
    if not video.get("roomAdmin") or video.get("room") != room:
        raise PermissionsDenied
