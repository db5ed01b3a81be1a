"""The audit log: one append-only row per action, ban, unban, enforcement or key change.

Callers write the row inside the same ``transaction.atomic()`` block as the effect it
records, so the log and the console's state can never disagree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction

from accounts.roles import role_of
from monitoring.models import AuditEntry, AuditOutcome

if TYPE_CHECKING:
    from monitoring.livekit import LiveKitError

SYSTEM_ACTOR = "system"


def audit_record(
    *,
    actor: Any,
    action: str,
    outcome: str,
    room_name: str = "",
    room_sid: str = "",
    identity: str = "",
    reason: str = "",
    error: str = "",
    detail: dict[str, Any] | None = None,
    actor_name: str | None = None,
) -> AuditEntry:
    """Append one audit row. ``actor`` None means the console itself ("system").

    ``actor_name`` overrides the recorded name (e.g. ``"api:<key name>"``).
    Must run inside the transaction that makes the recorded change.
    """
    if outcome not in AuditOutcome.values:
        raise ValueError(f"Unknown audit outcome {outcome!r}")
    if not action:
        raise ValueError("An audit row needs an action")
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must be called inside transaction.atomic()")
    user = actor if getattr(actor, "is_authenticated", False) else None
    if actor_name is None:
        actor_name = user.get_username() if user is not None else SYSTEM_ACTOR
    return AuditEntry.objects.create(
        actor=user,
        actor_name=actor_name[:150],
        actor_role=(role_of(user) or "") if user is not None else "",
        action=action,
        room_name=room_name,
        room_sid=room_sid,
        identity=identity,
        reason=reason,
        outcome=outcome,
        error=error,
        detail=detail or {},
    )


def livekit_error_text(exc: LiveKitError) -> str:
    """An audit row's ``error`` for a LiveKit failure: the moderator's sentence, then
    LiveKit's Twirp code and its own words."""
    detail = getattr(exc, "detail", "")
    return f"{exc} ({exc.code}: {detail})" if detail else f"{exc} ({exc.code})"


WATCH_START = "watch.start"
WATCH_END = "watch.end"


def watch_record(
    *,
    staff: Any,
    staff_name: str,
    started: bool,
    room_name: str,
    room_sid: str,
    identity: str,
    at: Any,
    reason: str = "",
) -> AuditEntry:
    """A staff member began or stopped watching a room's live preview (compliance):
    written when LiveKit's participant_joined / participant_left for the observer is
    applied, so it says when the staff member really was in the room."""
    return audit_record(
        actor=staff,
        actor_name=staff_name,
        action=WATCH_START if started else WATCH_END,
        outcome=AuditOutcome.DONE,
        room_name=room_name,
        room_sid=room_sid,
        identity=identity,
        reason=reason,
        detail={"at": at.isoformat() if hasattr(at, "isoformat") else str(at)},
    )
