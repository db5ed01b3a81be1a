"""Failed API-key attempts, throttled per client address (the Django cache, so every
process counts together when the cache is Redis).

After ``API_KEY_FAILURE_LIMIT`` failures within ``API_KEY_COOLOFF_SECONDS`` the address
is refused with 429 and ``Retry-After`` until the cool-off ends; the lock-out is written
to the audit log once.
"""

from __future__ import annotations

import math
import time

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from monitoring.models import AuditOutcome
from monitoring.moderation.audit import audit_record

LOCKOUT_ACTION = "api_key.lockout"


def _keys(address: str) -> tuple[str, str]:
    return f"api-key-failures:{address}", f"api-key-locked:{address}"


def api_key_retry_after(*, address: str | None) -> int | None:
    """Seconds until this address may try again, or ``None`` when it is not locked."""
    if not address:
        return None
    until = cache.get(_keys(address)[1])
    if until is None:
        return None
    remaining = math.ceil(float(until) - time.time())
    return remaining if remaining > 0 else None


def api_key_failure_note(*, address: str | None, path: str) -> int | None:
    """Count a failed attempt; lock the address (and audit it) when it reaches the limit.
    Returns the Retry-After seconds when this failure locked the address."""
    if not address:
        return None
    failures_key, locked_key = _keys(address)
    cooloff = settings.API_KEY_COOLOFF_SECONDS
    cache.add(failures_key, 0, timeout=cooloff)
    try:
        failures = cache.incr(failures_key)
    except ValueError:  # expired between add and incr
        cache.set(failures_key, 1, timeout=cooloff)
        failures = 1
    if failures < settings.API_KEY_FAILURE_LIMIT:
        return None
    cache.set(locked_key, time.time() + cooloff, timeout=cooloff)
    cache.delete(failures_key)
    with transaction.atomic():
        audit_record(
            actor=None,
            actor_name="api",
            action=LOCKOUT_ACTION,
            outcome=AuditOutcome.FAILED,
            reason=f"{failures} invalid API keys from {address}",
            error="too many invalid API keys",
            detail={
                "address": address,
                "failures": failures,
                "path": path,
                "cooloff_seconds": cooloff,
            },
        )
    return cooloff
