"""Observer tokens: join tokens for the console's own hidden, subscribe-only viewers.

A staff member watching a room joins it as a hidden participant whose grants let the
browser subscribe and nothing else. The gateway is the only code that knows the API
secret, so the token is minted here, with the key pair and TTL from settings.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from django.conf import settings
from livekit import api

from monitoring.livekit.errors import LiveKitError

OBSERVER_PREFIX = "roomwatch-observer-"
# The attribute every observer token carries: the console's mark on its own observers.
OBSERVER_ATTRIBUTE = "roomwatch.observer"
OBSERVER_ATTRIBUTE_VALUE = "console"
_IDENTITY = re.compile(rf"^{re.escape(OBSERVER_PREFIX)}(\d+)-([A-Za-z0-9_-]{{8,64}})$")


@dataclass(frozen=True)
class ObserverToken:
    url: str
    token: str
    identity: str
    room: str
    expires_at: datetime

    def as_json(self) -> dict[str, str]:
        return {
            "url": self.url,
            "token": self.token,
            "identity": self.identity,
            "expires_at": self.expires_at.isoformat(),
        }


def observer_identity_new(*, staff_id: int) -> str:
    return f"{OBSERVER_PREFIX}{int(staff_id)}-{secrets.token_urlsafe(9)}"


def observer_staff_id(identity: str) -> int | None:
    """The staff id an observer identity names, or None when it is not one of ours."""
    match = _IDENTITY.match(identity or "")
    return int(match.group(1)) if match else None


def observer_token_mint(
    *, room: str, staff_id: int, staff_name: str = "", identity: str | None = None
) -> ObserverToken:
    """A join token for ``room`` only: hidden, may subscribe, may do nothing else.

    ``identity`` renews an earlier token of the same staff member (same participant,
    so a reconnect replaces it rather than adding a second observer).
    """
    key, secret = settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET
    if not (key and secret):
        raise LiveKitError(
            "The console has no LiveKit API key and secret configured.", "unknown", 0
        )
    if not room:
        raise ValueError("An observer token needs a room.")
    if identity is None:
        identity = observer_identity_new(staff_id=staff_id)
    elif observer_staff_id(identity) != int(staff_id):
        raise ValueError("That observer identity belongs to someone else.")
    ttl = timedelta(seconds=settings.ROOMWATCH_OBSERVER_TOKEN_TTL_SECONDS)
    grants = api.VideoGrants(
        room_join=True,
        room=room,
        hidden=True,
        can_subscribe=True,
        can_publish=False,
        can_publish_data=False,
        can_update_own_metadata=False,
    )
    token = (
        api.AccessToken(key, secret)
        .with_identity(identity)
        .with_name(f"Roomwatch: {staff_name}" if staff_name else "Roomwatch")
        .with_grants(grants)
        .with_attributes({OBSERVER_ATTRIBUTE: OBSERVER_ATTRIBUTE_VALUE})
        .with_ttl(ttl)
        .to_jwt()
    )
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    return ObserverToken(
        url=settings.LIVEKIT_PUBLIC_URL,
        token=token,
        identity=identity,
        room=room,
        expires_at=datetime.fromtimestamp(exp, tz=UTC),
    )
