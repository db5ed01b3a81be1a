"""What the layout, keyboard and accessibility browser tests share: the seeded tour
(``monitoring.ui_tour``) on the console under Daphne, and a signed-in admin page."""

from __future__ import annotations

import time
from typing import Any

from django.db import transaction

from monitoring import ui_tour
from monitoring.models import AuditEntry, Ban, Room
from monitoring.moderation.audit import audit_record


def tour_room(livekit_sim: Any, admin: Any, timeout: float = 20.0) -> Room:
    """Seed the simulator (real webhooks to the console), a ban and audit rows; return the
    stage once the console has mirrored everyone in it."""
    ui_tour.seed_simulator(livekit_sim.url)
    deadline = time.monotonic() + timeout
    room = None
    while time.monotonic() < deadline:
        room = Room.objects.filter(name=ui_tour.STAGE).order_by("-pk").first()
        if (
            room is not None
            and room.participants.filter(left_at__isnull=True).count() >= 7
            and room.active_recording
        ):
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"the stage never reached the mirror: {room!r}")
    with transaction.atomic():
        _history(room, admin)
    return room


def _history(room: Room, admin: Any) -> None:
    ban = Ban.objects.create(
        identity="spammer-9", scope="global", reason="Spam or scam: links in every message"
    )
    audit_record(
        actor=admin,
        action="ban.create",
        outcome="done",
        identity="spammer-9",
        reason=ban.reason,
        detail={"ban_id": ban.pk, "scope": "global", "expires_at": None},
    )
    audit_record(
        actor=admin,
        action="participant.mute",
        outcome="done",
        room_name=room.name,
        room_sid=room.sid,
        identity="host-ana",
        reason="Copyright violation",
        detail={"scope": "track", "sources": ["CAMERA"]},
    )
    assert AuditEntry.objects.count() >= 2


def sized(page: Any, size: str) -> Any:
    page.set_viewport_size(ui_tour.SIZES[size])
    return page
