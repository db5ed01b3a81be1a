"""Template helpers for the moderator action controls."""

from __future__ import annotations

from typing import Any

from django import template

from monitoring.moderation.actions import remote_unmute_allowed

register = template.Library()


@register.simple_tag
def remote_unmute() -> bool:
    return remote_unmute_allowed()


@register.filter
def has_tracks(tracks: Any, state: str) -> bool:
    """``state`` is "muted" or "live": whether any of the participant's tracks is so."""
    want_muted = state == "muted"
    return any(
        isinstance(track, dict) and bool(track.get("muted")) == want_muted
        for track in (tracks or ())
    )


@register.simple_tag
def publishing_revoked(room: Any, participant: Any) -> bool:
    """Whether a moderator revoked this participant's publishing in this room session
    (and nobody restored it): only then does the row offer "Allow publishing".

    A viewer whose token never allowed publishing was not revoked, so it is not offered
    to them. One query per room per render, kept on the room object."""
    if participant is None or getattr(participant, "can_publish", True):
        return False
    if not getattr(room, "sid", ""):
        return False
    revoked = getattr(room, "_publishing_revoked", None)
    if revoked is None:
        from monitoring.models import AuditEntry, AuditOutcome
        from monitoring.moderation.actions import ActionName

        latest: dict[str, str] = {}
        rows = (
            AuditEntry.objects.filter(
                room_sid=room.sid,
                action__in=(ActionName.REVOKE_PUBLISHING, ActionName.RESTORE_PUBLISHING),
                outcome=AuditOutcome.DONE,
            )
            .order_by("created_at", "pk")
            .values_list("identity", "action")
        )
        for identity, action in rows:
            latest[identity] = action
        revoked = {i for i, a in latest.items() if a == ActionName.REVOKE_PUBLISHING}
        room._publishing_revoked = revoked
    return participant.identity in revoked
