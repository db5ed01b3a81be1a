"""A moderator kicks from the room page in Chromium; a second moderator's open page
shows the participant gone without a reload."""

from __future__ import annotations

import time
from typing import Any

import pytest

from monitoring.models import AuditEntry, Room
from tests.conftest import PASSWORD, make_staff
from tests.e2e.conftest import WS_OPEN_SCRIPT

pytestmark = pytest.mark.e2e


def mirrored_room(name: str, timeout: float = 10.0) -> Room:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        room = Room.objects.filter(name=name).order_by("-pk").first()
        if room is not None and room.participants.filter(identity="troll-7").exists():
            return room
        time.sleep(0.05)
    raise AssertionError(f"room {name!r} never reached the mirror")


def open_room_page(browser: Any, console: str, user: Any, room: Room) -> Any:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.add_init_script(WS_OPEN_SCRIPT)
    page.on("dialog", lambda dialog: dialog.accept())  # hx-confirm: the moderator confirms
    page.goto(f"{console}/accounts/login/?next=/rooms/{room.pk}/")
    page.fill("input[name=username]", user.get_username())
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=role]")
    page.wait_for_function("() => window.__wsOpen === true")
    return page


def test_a_kick_shows_on_a_second_moderators_page_without_reload(
    browser: Any, console: str, moderator: Any, livekit_sim: Any
) -> None:
    livekit_sim.join("studio", "host-1", publish=["camera"])
    livekit_sim.join("studio", "troll-7", publish=["microphone"])
    livekit_sim.flush()
    room = mirrored_room("studio")
    second = make_staff("max-moderator", "Moderator")
    acting = open_room_page(browser, console, moderator, room)
    watching = open_room_page(browser, console, second, room)
    watching_row = watching.locator("tr.participant-row", has_text="troll-7")
    watching_row.locator("a[data-action=kick]").wait_for()

    acting.locator("tr.participant-row", has_text="troll-7").locator("a[data-action=kick]").click()
    dialog = acting.locator("#moderation-dialog")
    dialog.locator("select[name=reason_preset]").select_option("Spam or scam")
    dialog.locator("textarea[name=reason]").fill("flooding the chat")
    dialog.locator("[data-testid=action-submit]").click()

    acting.locator("[data-testid=action-result]", has_text="troll-7 was removed").wait_for()
    watching_row.locator("a[data-action=kick]").wait_for(state="detached")
    assert {p["identity"] for p in livekit_sim.room("studio")["participants"]} == {"host-1"}
    entry = AuditEntry.objects.get(action="participant.kick")
    assert (entry.identity, entry.outcome, entry.actor_name) == ("troll-7", "done", "mia-moderator")
    assert entry.reason == "Spam or scam: flooding the chat"
