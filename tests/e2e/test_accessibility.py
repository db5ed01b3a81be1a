"""axe-core (served from static/vendor/axe-core, never by the pages themselves) finds no
serious or critical WCAG 2 A/AA violation on any page or dialog, at either size."""

from __future__ import annotations

from typing import Any

import pytest

from monitoring import ui_tour
from tests.e2e.tour import sized, tour_room

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("size", list(ui_tour.SIZES))
def test_no_page_has_a_serious_or_critical_accessibility_violation(
    size: str, console: str, livekit_sim: Any, admin: Any, logged_in_page: Any
) -> None:
    room = tour_room(livekit_sim, admin)
    page = sized(logged_in_page(admin), size)
    found = {}
    for name, path in ui_tour.PAGES:
        page.goto(console + path.format(room=room.pk))
        ui_tour.settle(page)
        if violations := ui_tour.axe_violations(page):
            found[name] = violations

    assert found == {}


def test_no_dialog_has_a_serious_or_critical_accessibility_violation(
    console: str, livekit_sim: Any, admin: Any, logged_in_page: Any
) -> None:
    room = tour_room(livekit_sim, admin)
    page = logged_in_page(admin, f"/rooms/{room.pk}/")
    found = {}
    for name, selector in ui_tour.DIALOGS:
        page.goto(f"{console}/rooms/{room.pk}/")
        ui_tour.settle(page)
        page.locator(selector).first.dispatch_event("click")
        page.wait_for_selector("dialog[open]")
        ui_tour.settle(page)
        if violations := ui_tour.axe_violations(page):
            found[name] = violations
    page.keyboard.press("Escape")
    page.keyboard.press("?")
    page.wait_for_selector("#shortcuts[open]")
    if violations := ui_tour.axe_violations(page):
        found["shortcuts"] = violations

    assert found == {}


def test_the_pages_never_load_axe_themselves(
    console: str, livekit_sim: Any, admin: Any, logged_in_page: Any
) -> None:
    page = logged_in_page(admin)
    assert "axe" not in page.content()
