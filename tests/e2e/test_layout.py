"""Every page and dialog fits the screen at 1440x900 and 390x844: nothing sticks out
sideways (no horizontal scrolling), and every dialog's submit button is in view
without scrolling inside the dialog."""

from __future__ import annotations

from typing import Any

import pytest

from monitoring import ui_tour
from tests.e2e.tour import sized, tour_room

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("size", list(ui_tour.SIZES))
def test_no_page_overflows_the_viewport_sideways(
    size: str, console: str, livekit_sim: Any, admin: Any, logged_in_page: Any
) -> None:
    room = tour_room(livekit_sim, admin)
    page = sized(logged_in_page(admin), size)
    overflowing = {}
    for name, path in [*ui_tour.PAGES, ("login", "/accounts/login/")]:
        page.goto(console + path.format(room=room.pk))
        ui_tour.settle(page)
        if found := page.evaluate(ui_tour.OVERFLOW_JS):
            overflowing[name] = found

    assert overflowing == {}


@pytest.mark.parametrize("size", list(ui_tour.SIZES))
def test_every_dialog_shows_its_submit_button_without_scrolling(
    size: str, console: str, livekit_sim: Any, admin: Any, logged_in_page: Any
) -> None:
    room = tour_room(livekit_sim, admin)
    page = sized(logged_in_page(admin, f"/rooms/{room.pk}/"), size)
    problems = {}
    for name, selector in ui_tour.DIALOGS:
        page.goto(f"{console}/rooms/{room.pk}/")
        ui_tour.settle(page)
        page.locator(selector).first.dispatch_event("click")
        page.wait_for_selector("dialog[open]")
        ui_tour.settle(page)
        assert page.evaluate("() => document.querySelector('dialog[open]').matches(':modal')"), (
            f"the {name} dialog is modal (the page behind is dimmed and inert)"
        )
        if missing := page.evaluate(ui_tour.SUBMIT_IN_VIEW_JS):
            problems[name] = missing
        if found := page.evaluate(ui_tour.OVERFLOW_JS):
            problems[f"{name} overflow"] = found

    assert problems == {}
    assert page.dialogs == []  # never the browser's own confirm()
