"""A moderator silences a participant for 10 minutes from the room page in Chromium; a
second moderator's page shows it with the time left; the participant rejoins and is
silenced again without anyone acting."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from accounts.roles import MODERATOR
from monitoring.models import Restriction, Room
from tests.conftest import make_staff
from tests.e2e.test_ban_flow import confirming_page, mirrored_room

pytestmark = pytest.mark.e2e


def permission(sim: Any, room: str, identity: str) -> dict[str, Any] | None:
    found = sim.room(room)
    for p in found["participants"] if found else []:
        if p["identity"] == identity:
            return p["permission"]
    return None


def eventually(check: Callable[[], bool], *, timeout: float = 10.0, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


def silenced(sim: Any, room: str, identity: str) -> bool:
    perm = permission(sim, room, identity)
    return bool(
        perm and perm["can_publish_sources"] and "MICROPHONE" not in perm["can_publish_sources"]
    )


def test_a_silence_holds_across_pages_and_rejoins(
    browser: Any, moderator: Any, livekit_sim: Any, console: str, wait_for_live: Any
) -> None:
    livekit_sim.join("studio", "host-1", publish=["camera"])
    livekit_sim.join("studio", "loud", publish=["microphone", "camera"])
    livekit_sim.flush()
    room: Room = mirrored_room("studio", host="host-1")
    colleague = make_staff("max-moderator", MODERATOR)
    watching = confirming_page(browser, console, colleague, f"/rooms/{room.pk}/")
    wait_for_live(watching)

    page = confirming_page(browser, console, moderator, f"/rooms/{room.pk}/")
    row = page.locator("tr.participant-row[data-identity=loud]")
    row.locator("summary").click()
    row.locator("a[data-action=mute]").click()
    dialog = page.locator("#moderation-dialog")
    dialog.locator("input[name=target][value=audio]").check()
    dialog.locator("input[name=mode][value=hold]").check()
    dialog.locator("select[name=duration]").select_option("10m")
    dialog.locator("select[name=reason_preset]").select_option("Harassment or bullying")
    dialog.locator("[data-testid=action-submit]").click()

    result = page.locator("[data-testid=action-result]")
    result.wait_for()
    assert "silenced (no microphone) in studio until" in result.inner_text()
    assert silenced(livekit_sim, "studio", "loud")
    restriction = Restriction.objects.get(identity="loud")
    assert restriction.kind == "silence" and restriction.created_by == moderator

    shown = watching.locator("tr.participant-row[data-identity=loud] [data-testid=restriction]")
    shown.wait_for()
    assert "min left" in shown.inner_text() and "Silenced" in shown.inner_text()
    assert ("10 min left" in shown.inner_text()) or ("9 min left" in shown.inner_text())

    # The participant's app reconnects with its own token: the token's grants are back.
    livekit_sim.join("studio", "loud", publish=["microphone"])
    livekit_sim.flush()

    eventually(lambda: silenced(livekit_sim, "studio", "loud"), what="silenced again on rejoin")
    eventually(
        lambda: Restriction.objects.get(pk=restriction.pk).rejoin_count == 1,
        what="the rejoin counted",
    )
    rejoins = watching.locator(
        "[data-testid=held-restriction][data-identity=loud] [data-testid=rejoins]"
    )
    eventually(
        lambda: rejoins.get_attribute("data-rejoins") == "1",
        what="the colleague's page shows the rejoin",
    )
    again = watching.locator("tr.participant-row[data-identity=loud] [data-testid=restriction]")
    again.first.wait_for()
    assert "min left" in again.first.inner_text()
