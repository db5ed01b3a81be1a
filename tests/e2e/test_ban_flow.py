"""A moderator bans straight from the room list in Chromium, LiveKit drops the identity,
the outcome shows in place, and the audit page shows the row. Every room action runs
in place from the room list, the room page and the wall."""

from __future__ import annotations

import time
from typing import Any

import pytest

from monitoring.models import Ban, Room
from tests.conftest import PASSWORD
from tests.e2e.conftest import WS_OPEN_SCRIPT

pytestmark = pytest.mark.e2e


def mirrored_room(name: str, host: str = "", timeout: float = 10.0) -> Room:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        room = Room.objects.filter(name=name).order_by("-pk").first()
        if room is not None and room.host_identity == host:
            return room
        time.sleep(0.05)
    raise AssertionError(f"room {name!r} never reached the mirror with host {host!r}")


def identities(sim: Any, room: str) -> set[str]:
    found = sim.room(room)
    return {p["identity"] for p in found["participants"]} if found else set()


def confirming_page(browser: Any, console: str, user: Any, path: str) -> Any:
    """A signed-in page that would accept any browser confirmation (there are none)."""
    page = browser.new_context().new_page()
    page.set_default_timeout(10_000)
    page.add_init_script(WS_OPEN_SCRIPT)
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{console}/accounts/login/?next={path}")
    page.fill("input[name=username]", user.get_username())
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=role]")
    return page


def test_a_moderator_bans_from_the_room_list_and_the_audit_page_shows_it(
    browser: Any, moderator: Any, livekit_sim: Any, console: str
) -> None:
    livekit_sim.join("studio", "host-1", publish=["camera"])
    livekit_sim.join("studio", "troll-7")
    livekit_sim.flush()
    room = mirrored_room("studio", host="host-1")

    page = confirming_page(browser, console, moderator, "/")
    page.locator(f"#room-row-{room.pk} a[data-action=ban]").click()

    dialog = page.locator("#moderation-dialog")
    assert dialog.locator("input[name=identity]").input_value() == "host-1"  # the host first
    assert "This room (studio)" in dialog.locator("select[name=scope]").inner_text()
    dialog.locator("input[name=identity]").fill("troll-7")
    dialog.locator("select[name=reason_preset]").select_option("Spam or scam")
    dialog.locator("textarea[name=reason]").fill("link flooding")
    dialog.locator("select[name=expiry]").select_option("7d")
    dialog.locator("[data-testid=action-submit]").click()

    result = page.locator("[data-testid=action-result]").first
    result.wait_for()
    assert result.inner_text() == "troll-7 is banned in studio. Removed from studio."
    assert page.url == f"{console}/"  # shown in place: the room list is still the page
    assert identities(livekit_sim, "studio") == {"host-1"}
    ban = Ban.objects.get(identity="troll-7")
    assert ban.room_name == "studio" and ban.created_by == moderator
    assert ban.reason == "Spam or scam: link flooding"

    page.get_by_role("button", name="Close").click()
    page.get_by_role("link", name="Audit log").click()
    created = page.locator("tr.audit-row[data-action='ban.create']", has_text="troll-7")
    created.wait_for()
    assert "mia-moderator" in created.inner_text() and "studio" in created.inner_text()
    enforced = page.locator("tr.audit-row[data-action='ban.enforce']", has_text="troll-7")
    assert "done" in enforced.first.inner_text().lower()


def test_cancel_in_the_dialog_bans_nobody_and_the_browser_never_asks_again(
    logged_in_page: Any, moderator: Any, livekit_sim: Any, console: str
) -> None:
    livekit_sim.join("studio", "host-1", publish=["camera"])
    livekit_sim.flush()
    room = mirrored_room("studio", host="host-1")

    page = logged_in_page(moderator)  # this page records any browser confirm()
    page.locator(f"#room-row-{room.pk} a[data-action=ban]").click()
    page.locator("#moderation-dialog select[name=reason_preset]").select_option("Spam or scam")
    page.locator("#moderation-dialog").get_by_role("link", name="Cancel").click()

    page.wait_for_selector("#moderation-dialog", state="detached")
    assert page.dialogs == []  # the dialog is the one confirmation
    assert page.url == f"{console}/"
    assert not Ban.objects.exists() and identities(livekit_sim, "studio") == {"host-1"}


def test_a_moderator_bans_a_participant_from_the_room_page(
    browser: Any, moderator: Any, livekit_sim: Any, console: str
) -> None:
    livekit_sim.join("studio", "host-1", publish=["camera"])
    livekit_sim.join("studio", "troll-7")
    livekit_sim.flush()
    room = mirrored_room("studio", host="host-1")

    page = confirming_page(browser, console, moderator, f"/rooms/{room.pk}/")
    page.locator("tr", has_text="troll-7").locator("a[data-action=ban]").click()
    dialog = page.locator("#moderation-dialog")
    assert dialog.locator("input[name=identity]").input_value() == "troll-7"
    dialog.locator("select[name=reason_preset]").select_option("Ban evasion")
    dialog.locator("[data-testid=action-submit]").click()

    page.locator("[data-testid=action-result]", has_text="troll-7 is banned in studio").wait_for()
    assert identities(livekit_sim, "studio") == {"host-1"}
    assert Ban.objects.get().reason == "Ban evasion"


@pytest.mark.parametrize(
    "path, container",
    [("/", "#room-row-{pk}"), ("/rooms/{pk}/", "#room-live"), ("/wall/", "#wall-tile-{pk}")],
)
def test_a_room_warning_runs_in_place_from_the_list_the_room_page_and_the_wall(
    path: str, container: str, browser: Any, moderator: Any, livekit_sim: Any, console: str
) -> None:
    livekit_sim.join("studio", "host-1", publish=["camera"])
    livekit_sim.flush()
    room = mirrored_room("studio", host="host-1")
    url = path.format(pk=room.pk)

    page = confirming_page(browser, console, moderator, url)
    actions = page.locator(f"{container.format(pk=room.pk)} [data-testid=room-actions]")
    actions.locator("summary").click()  # Warn the room sits in the row's menu
    actions.locator("a[data-action=warn-room]").click()
    dialog = page.locator("#moderation-dialog")
    dialog.locator("textarea[name=message]").fill("Keep it civil, please.")
    dialog.locator("select[name=reason_preset]").select_option("Harassment or bullying")
    dialog.locator("[data-testid=action-submit]").click()

    result = page.locator("[data-testid=action-result]")
    result.wait_for()
    assert result.get_attribute("data-outcome") == "done"
    assert page.url == f"{console}{url}"
    [sent] = livekit_sim.state()["data_messages"]
    assert sent["room"] == "studio" and sent["topic"] == "roomwatch.moderation"
