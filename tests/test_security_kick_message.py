"""Kicking an identity LiveKit does not know says whether they were ever in the room."""

from __future__ import annotations

from typing import Any

from monitoring.models import AuditEntry, Room
from tests.test_actions import REASON, mirror_room, post_action


def stage_room(sim: Any) -> Room:
    sim.join("stage", "host-1", publish=["microphone", "camera"])
    sim.join("stage", "guest-2", publish=["microphone"])
    return mirror_room(sim, "stage")


def test_kicking_an_identity_that_was_never_in_the_room_says_so(
    livekit_sim: Any, db: Any, client_for: Any, moderator: Any
) -> None:
    room = stage_room(livekit_sim)

    response = post_action(client_for(moderator), room, "kick", identity="stranger-7")

    page = response.content.decode()
    assert response.status_code == 404
    assert "stranger-7 is not in this room" in page
    assert "already removed" not in page
    entry = AuditEntry.objects.get(action="participant.kick", identity="stranger-7")
    assert entry.outcome == "failed"
    assert entry.detail.get("not_in_room") is True


def test_kicking_someone_who_left_still_says_already_removed(
    livekit_sim: Any, db: Any, client_for: Any, moderator: Any
) -> None:
    room = stage_room(livekit_sim)
    livekit_sim.leave("stage", "guest-2")

    response = post_action(client_for(moderator), room, "kick", identity="guest-2")

    assert "guest-2 was already removed" in response.content.decode()


def test_the_reason_is_kept_on_the_audit_row(
    livekit_sim: Any, db: Any, client_for: Any, moderator: Any
) -> None:
    room = stage_room(livekit_sim)

    post_action(client_for(moderator), room, "kick", identity="stranger-7")

    assert AuditEntry.objects.get(identity="stranger-7").reason == REASON
