"""A moderator bans from the room list in Chromium, LiveKit drops the identity, and the
audit page shows the row."""

from __future__ import annotations

import time
from typing import Any

import pytest

from monitoring.models import Ban, Room

pytestmark = pytest.mark.e2e


def mirrored_room(name: str, timeout: float = 10.0) -> Room:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        room = Room.objects.filter(name=name).order_by("-pk").first()
        if room is not None:
            return room
        time.sleep(0.05)
    raise AssertionError(f"room {name!r} never reached the mirror")


def identities(sim: Any, room: str) -> set[str]:
    found = sim.room(room)
    return {p["identity"] for p in found["participants"]} if found else set()


def test_a_moderator_bans_from_the_room_list_and_the_audit_page_shows_it(
    logged_in_page: Any, moderator: Any, livekit_sim: Any, console: str
) -> None:
    livekit_sim.join("studio", "host-1", publish=["camera"])
    livekit_sim.join("studio", "troll-7")
    livekit_sim.flush()
    room = mirrored_room("studio")

    page = logged_in_page(moderator)
    page.locator(f"#room-row-{room.pk} a", has_text="studio").click()
    page.locator("[data-testid=participant-actions]").first.wait_for()
    page.locator("tr", has_text="troll-7").locator("a[data-action=ban]").click()

    form = page.locator("[data-testid=ban-form]")
    assert form.locator("input[name=identity]").input_value() == "troll-7"
    assert form.locator("input[name=room_name]").input_value() == "studio"
    form.locator("input[name=reason]").fill("Spam or scams")
    form.locator("select[name=expiry]").select_option("7d")
    form.locator("button[type=submit]").click()

    page.get_by_text("troll-7 is banned in studio. Removed from studio.").wait_for()
    assert identities(livekit_sim, "studio") == {"host-1"}
    ban = Ban.objects.get(identity="troll-7")
    assert ban.room_name == "studio" and ban.created_by == moderator
    assert page.locator(f"#ban-{ban.pk}").is_visible()

    page.get_by_role("link", name="Audit log").click()
    created = page.locator("tr.audit-row[data-action='ban.create']", has_text="troll-7")
    created.wait_for()
    assert "mia-moderator" in created.inner_text() and "studio" in created.inner_text()
    enforced = page.locator("tr.audit-row[data-action='ban.enforce']", has_text="troll-7")
    assert "done" in enforced.first.inner_text().lower()
