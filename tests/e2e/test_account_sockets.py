"""In Chromium: an admin's change to an account reaches that account's open pages at once."""

from __future__ import annotations

import time
from typing import Any

import pytest

from monitoring.models import Room
from tests.conftest import PASSWORD

pytestmark = pytest.mark.e2e


def mirrored_room(name: str, timeout: float = 10.0) -> Room:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        room = Room.objects.filter(name=name).order_by("-pk").first()
        if room is not None:
            return room
        time.sleep(0.05)
    raise AssertionError(f"room {name!r} never reached the mirror")


def admin_changes(
    page: Any, console: str, admin: Any, user: Any, *, role: str, active: bool
) -> None:
    """The admin, in their own browser, saves ``user``'s row on the Staff page."""
    context = page.context.browser.new_context()
    try:
        tab = context.new_page()
        tab.goto(f"{console}/accounts/login/?next=/accounts/staff/")
        tab.fill("input[name=username]", admin.get_username())
        tab.fill("input[name=password]", PASSWORD)
        tab.click("button[type=submit]")
        form = tab.locator(f"form[action='/accounts/staff/{user.pk}/']")
        form.locator("select[name=role]").select_option(role)
        form.locator("input[name=is_active]").set_checked(active)
        form.locator("button[type=submit]").click()
        tab.get_by_text(f"{user.get_username()}: ").wait_for()
    finally:
        context.close()


def test_a_deactivated_moderators_open_page_says_offline(
    logged_in_page: Any, moderator: Any, admin: Any, wait_for_live: Any, console: str
) -> None:
    page = logged_in_page(moderator)
    wait_for_live(page)

    admin_changes(page, console, admin, moderator, role="Moderator", active=False)

    page.wait_for_function(
        "() => document.getElementById('connection').dataset.state === 'offline'",
        timeout=20_000,
    )
    assert "sign in again" in page.locator("#connection").get_attribute("title")


def test_a_demoted_moderators_open_page_reconnects_without_the_actions(
    logged_in_page: Any,
    moderator: Any,
    admin: Any,
    wait_for_live: Any,
    console: str,
    livekit_sim: Any,
) -> None:
    livekit_sim.join("studio", "host-1", publish=["camera", "microphone"])
    livekit_sim.flush()
    room = mirrored_room("studio")
    page = logged_in_page(moderator)
    wait_for_live(page)
    actions = page.locator(f"#room-row-{room.pk} [data-testid=room-actions]")
    actions.wait_for()
    page.evaluate("() => { window.__sameDocument = true; }")

    admin_changes(page, console, admin, moderator, role="Support", active=True)

    actions.wait_for(state="detached", timeout=20_000)
    wait_for_live(page)
    assert page.evaluate("() => window.__sameDocument === true"), "no reload was needed"
    livekit_sim.join("studio", "viewer-2")
    livekit_sim.flush()
    page.wait_for_function(
        f"() => document.querySelector('#room-row-{room.pk} [data-testid=participants]')"
        ".textContent.trim() === '2'"
    )
    assert actions.count() == 0, "the pushed row is the one rendered for Support"
