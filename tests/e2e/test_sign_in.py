"""Signing in through the real login page in Chromium shows the console shell."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import PASSWORD

pytestmark = pytest.mark.e2e


def test_a_moderator_signs_in_and_sees_the_shell_with_their_role(
    page: Any, console: str, moderator: Any
) -> None:
    page.goto(f"{console}/")
    assert "/accounts/login/" in page.url  # anonymous visitors are sent to sign in
    page.fill("input[name=username]", moderator.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")

    role = page.wait_for_selector("[data-testid=role]", timeout=10_000)
    assert role.inner_text() == "Moderator"
    assert moderator.username in page.inner_text("header")
    nav = page.inner_text("nav")
    assert "Rooms" in nav and "Audit log" in nav
    assert "Staff" not in nav  # staff management is for admins only
    # htmx came from our own static files and is running.
    assert page.evaluate("() => typeof window.htmx") == "object"


def test_a_wrong_password_shows_an_error_and_stays_signed_out(
    page: Any, console: str, support: Any
) -> None:
    page.goto(f"{console}/accounts/login/")
    page.fill("input[name=username]", support.username)
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    alert = page.wait_for_selector("[role=alert]", timeout=10_000)
    assert "correct username and password" in alert.inner_text()
    assert page.query_selector("[data-testid=role]") is None


def test_on_a_phone_the_room_list_fits_the_screen_with_its_key_columns(
    logged_in_page: Any, moderator: Any, livekit_sim: Any, wait_for_live: Any
) -> None:
    livekit_sim.join("late-night-chess-blitz-arena", "host-1", publish=["camera", "microphone"])
    livekit_sim.join("late-night-chess-blitz-arena", "viewer-1")
    page = logged_in_page(moderator)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(page.url)
    wait_for_live(page)
    row = page.wait_for_selector("tr.room-row")
    assert "late-night-chess-blitz-arena" in row.inner_text()
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, window.innerWidth,"
        " document.querySelector('.table-wrap').scrollWidth,"
        " document.querySelector('.table-wrap').clientWidth]"
    )
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"
    assert widths[2] <= widths[3], f"the room table scrolls sideways: {widths}"
    visible = page.eval_on_selector_all(
        "table.rooms thead th", "ths => ths.filter(th => th.offsetParent).map(th => th.innerText)"
    )
    headings = [h.strip().lower() for h in visible]
    assert headings[:3] == ["room", "status", "participants"]
    assert "host" not in headings and "publishers" not in headings
    assert row.query_selector("[data-action=end]").is_visible()
    assert page.inner_text("[data-testid=role]") == "Moderator"
