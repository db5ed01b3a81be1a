"""The console's own observers (staff watching a room's live preview) and the evidence
frames they capture.

- Watching: ``observer_token_for`` mints the token (through the LiveKit gateway);
  watch start and end are audited when LiveKit's participant_joined / participant_left
  for the observer is applied (``watch_audit_on_apply``, inside the mirror's
  transaction), so the log says when the staff member really was in the room.
- Evidence: ``evidence_store`` keeps one PNG frame in the ``evidence`` storage and
  audits the capture; the staff member's next moderation action on that room takes
  the pending frames (``evidence_take``) and names them in its audit row.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from accounts.access import Action, require
from monitoring import livekit
from monitoring.models import AuditEntry, AuditOutcome, Evidence, Participant, Room
from monitoring.moderation.audit import audit_record, watch_record

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WATCH_EVENTS = {
    "participant_joined": True,
    "participant_left": False,
    "participant_connection_aborted": False,
}


def staff_display_name(user: Any) -> str:
    full = (user.get_full_name() or "").strip() if hasattr(user, "get_full_name") else ""
    return full or user.get_username()


# --- Watching -------------------------------------------------------------------------


def observer_token_for(
    *, actor: Any, room: Room, renew_identity: str = ""
) -> livekit.ObserverToken:
    """An observer token for ``room`` for a staff member with view access.

    ``renew_identity`` keeps the identity of the token being renewed (it must be the
    same staff member's), so a reconnect replaces the observer instead of adding one.
    """
    require(actor, Action.VIEW)
    if not room.is_open:
        raise ValidationError("This room has ended: there is nothing to watch.")
    if renew_identity and livekit.observer_staff_id(renew_identity) != actor.pk:
        raise ValidationError("Only your own observer token can be renewed.")
    return livekit.observer_token_mint(
        room=room.name,
        staff_id=actor.pk,
        staff_name=staff_display_name(actor),
        identity=renew_identity or None,
    )


def watchers_of(*, room: Room) -> list[str]:
    """Names of the staff members whose observers are in the room now."""
    identities = Participant.objects.filter(
        room=room, is_observer=True, left_at__isnull=True
    ).values_list("identity", flat=True)
    ids = {livekit.observer_staff_id(i) for i in identities} - {None}
    if not ids:
        return []
    users = get_user_model().objects.filter(pk__in=ids)
    return sorted(staff_display_name(u) for u in users)


def watch_audit_on_apply(*, room: Room, event: livekit.WebhookEvent) -> AuditEntry | None:
    """Audit an observer's arrival or departure (called by the mirror inside the
    transaction that applies the webhook, once per LiveKit event id)."""
    started = WATCH_EVENTS.get(event.event)
    info = event.participant
    if started is None or info is None:
        return None
    staff_id = livekit.observer_staff_id(info.identity)
    if staff_id is None:
        return None
    row = Participant.objects.filter(room=room, sid=info.sid).only("is_observer").first()
    if row is not None and not row.is_observer:
        return None  # the identity's form without the console's mark: not ours
    staff = get_user_model().objects.filter(pk=staff_id).first()
    name = staff_display_name(staff) if staff is not None else f"staff #{staff_id}"
    reason = info.disconnect_reason.replace("_", " ").lower() if not started else ""
    return watch_record(
        staff=staff,
        staff_name=staff.get_username() if staff is not None else name,
        started=started,
        room_name=room.name,
        room_sid=room.sid,
        identity=info.identity,
        at=event.created_at,
        reason=reason,
    )


# --- Evidence -------------------------------------------------------------------------


@dataclass(frozen=True)
class EvidenceStored:
    evidence: Evidence
    entry: AuditEntry


def evidence_store(
    *, actor: Any, room: Room, data: bytes, identity: str = "", max_bytes: int
) -> EvidenceStored:
    """Keep one captured frame (PNG) for the staff member's next action on ``room``."""
    require(actor, Action.VIEW)
    if not data:
        raise ValidationError("No image was sent.")
    if len(data) > max_bytes:
        raise ValidationError(f"The image is larger than {max_bytes // 1024} KiB.")
    if not data.startswith(PNG_SIGNATURE):
        raise ValidationError("The image must be a PNG.")
    if len(identity) > 256:
        raise ValidationError("The identity is too long.")
    digest = hashlib.sha256(data).hexdigest()
    evidence = Evidence(
        captured_by=actor,
        captured_by_name=actor.get_username(),
        room_name=room.name,
        room_sid=room.sid,
        identity=identity,
        size=len(data),
        sha256=digest,
    )
    # The file is written first: a failed write leaves no row, a failed row an orphan
    # file (harmless, never linked).
    evidence.image.save(f"{room.pk}-{digest[:16]}.png", ContentFile(data), save=False)
    try:
        with transaction.atomic():
            evidence.save()
            entry = audit_record(
                actor=actor,
                action="evidence.capture",
                outcome=AuditOutcome.DONE,
                room_name=room.name,
                room_sid=room.sid,
                identity=identity,
                detail={"evidence": [evidence.pk], "sha256": digest, "bytes": len(data)},
            )
    except BaseException:
        evidence.image.storage.delete(evidence.image.name)
        raise
    return EvidenceStored(evidence=evidence, entry=entry)


def evidence_take(*, actor: Any, room_name: str) -> list[Evidence]:
    """The actor's frames of this room still waiting for an action, locked; call inside
    the action's transaction and pass them to ``evidence_attach`` with its audit row."""
    if not getattr(actor, "is_authenticated", False):
        return []
    return list(
        Evidence.objects.select_for_update()
        .filter(captured_by=actor, room_name=room_name, attached_at__isnull=True)
        .order_by("pk")
    )


def evidence_attach(*, evidence: list[Evidence], entry: AuditEntry) -> None:
    if evidence:
        Evidence.objects.filter(pk__in=[e.pk for e in evidence]).update(
            attached_at=timezone.now(), audit_entry=entry
        )


def evidence_detail(evidence: list[Evidence]) -> dict[str, Any]:
    return {"evidence": [e.pk for e in evidence]} if evidence else {}
