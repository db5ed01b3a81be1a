"""API keys for the platform's token server: create (shown once), revoke, authenticate.

A key reads ``rwk_<prefix>_<secret>``. The prefix finds the row; only the SHA-256 of
the whole key is stored, compared in constant time. The key itself is returned once
by ``api_key_create`` and cannot be recovered afterwards.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.access import Action, require
from monitoring.models import ApiKey, AuditOutcome
from monitoring.moderation.audit import audit_record

KEY_PREFIX = "rwk_"
NAME_MAX = 100
# Writing last_used_at on every check would make each token request a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiKeyInvalid(Exception):
    """The presented key is missing, malformed, unknown or revoked (message says which)."""


@dataclass(frozen=True)
class NewApiKey:
    api_key: ApiKey
    # The only time the secret exists outside the client: show it, then forget it.
    plaintext: str


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_create(*, actor: Any, name: str) -> NewApiKey:
    require(actor, Action.MANAGE_API_KEYS)
    name = (name or "").strip()
    if not name:
        raise ValidationError("Give the key a name (e.g. the service that will use it).")
    if len(name) > NAME_MAX:
        raise ValidationError(f"The name must be at most {NAME_MAX} characters.")
    prefix = secrets.token_hex(6)
    plaintext = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            name=name, prefix=prefix, key_hash=_hash(plaintext), created_by=actor
        )
        audit_record(
            actor=actor,
            action="api_key.create",
            outcome=AuditOutcome.DONE,
            detail={"api_key_id": api_key.pk, "name": name, "prefix": prefix},
        )
    return NewApiKey(api_key=api_key, plaintext=plaintext)


def api_key_revoke(*, actor: Any, api_key: ApiKey) -> ApiKey:
    require(actor, Action.MANAGE_API_KEYS)
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        if locked.revoked_at is not None:
            raise ValidationError(f"The key {locked.name} is already revoked.")
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor,
            action="api_key.revoke",
            outcome=AuditOutcome.DONE,
            detail={"api_key_id": locked.pk, "name": locked.name, "prefix": locked.prefix},
        )
    return locked


def api_key_authenticate(*, authorization: str | None) -> ApiKey:
    """The active key named by an ``Authorization: Bearer <key>`` header, or ``ApiKeyInvalid``."""
    if not authorization:
        raise ApiKeyInvalid("Send your API key as 'Authorization: Bearer <key>'.")
    scheme, _, presented = authorization.partition(" ")
    presented = presented.strip()
    if scheme.lower() != "bearer" or not presented:
        raise ApiKeyInvalid("The Authorization header must read 'Bearer <key>'.")
    body = presented.removeprefix(KEY_PREFIX)
    prefix, sep, _ = body.partition("_")
    if not presented.startswith(KEY_PREFIX) or not sep or not prefix:
        raise ApiKeyInvalid("This is not a Roomwatch API key.")
    api_key = ApiKey.objects.filter(prefix=prefix).first()
    # Compare even when the prefix is unknown, so timing does not reveal valid prefixes.
    expected = api_key.key_hash if api_key is not None else _hash("")
    if not hmac.compare_digest(expected, _hash(presented)) or api_key is None:
        raise ApiKeyInvalid("The API key is not valid.")
    if api_key.revoked_at is not None:
        raise ApiKeyInvalid("The API key has been revoked.")
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key
