"""Keyboard-first triage in Chromium: "/" searches, j/k walk the rows, Enter opens,
w/m/x/b open the warn/mute/kick/ban dialog with the focus on its reason, a preset and
Enter act, Esc closes, "?" lists the keys; focus stays visible and moves in order."""

from __future__ import annotations

from typing import Any

import pytest

from monitoring.models import AuditEntry
from tests.e2e.tour import tour_room

pytestmark = pytest.mark.e2e


def active(page: Any) -> str:
    """The focused element, as ``tag#id.name`` (enough to tell fields apart)."""
    return page.evaluate(
        "() => { const e = document.activeElement;"
        " return e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')"
        " + (e.name ? '.' + e.name : '') + (e.dataset.identity ? '@' + e.dataset.identity : ''); }"
    )


def focus_is_visible(page: Any) -> bool:
    return page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2; }"
    )


def test_slash_searches_and_j_k_enter_walk_and_open_the_room_list(
    console: str, livekit_sim: Any, admin: Any, logged_in_page: Any
) -> None:
    room = tour_room(livekit_sim, admin)
    page = logged_in_page(admin)
    page.wait_for_selector("tr.room-row")

    page.keyboard.press("/")
    assert active(page) == "input#room-search.q"
    page.keyboard.press("Escape")
    page.keyboard.press("j")
    first = active(page)
    page.keyboard.press("j")
    second = active(page)
    page.keyboard.press("k")

    assert first.startswith("tr#room-row-") and second.startswith("tr#room-row-")
    assert first != second and active(page) == first
    assert page.locator("tr.kb-current").count() == 1 and focus_is_visible(page)
    page.keyboard.press("Enter")
    page.wait_for_url("**/rooms/*/")
    assert page.url.endswith(f"/rooms/{room.pk}/")  # the busiest room is the stage


def test_each_action_key_opens_its_dialog_on_the_reason_and_esc_closes_it(
    console: str, livekit_sim: Any, admin: Any, logged_in_page: Any
) -> None:
    room = tour_room(livekit_sim, admin)
    page = logged_in_page(admin, f"/rooms/{room.pk}/")
    page.wait_for_selector("tr.participant-row")
    page.keyboard.press("j")  # the first participant: the host, with a camera to mute
    row = active(page)
    assert row.startswith("tr#participant-") and row.endswith("@host-ana")

    for key, title, reason in (
        ("w", "Warn", "select#action-reason-preset.reason_preset"),
        ("m", "Mute", "select#action-reason-preset.reason_preset"),
        ("x", "Kick", "select#action-reason-preset.reason_preset"),
        ("b", "Ban", "select#ban-dialog-reason-preset.reason_preset"),
    ):
        page.keyboard.press(key)
        dialog = page.locator("dialog[open]")
        dialog.wait_for()
        page.wait_for_function(
            "() => document.activeElement && document.activeElement.closest('dialog[open]')"
        )
        assert dialog.locator("h2").first.inner_text() == title
        assert dialog.get_attribute("aria-labelledby")  # announced by its title
        assert page.evaluate("() => document.querySelector('dialog[open]').matches(':modal')")
        assert active(page) == reason, f"{key} focuses the reason"
        assert focus_is_visible(page)
        page.keyboard.press("Escape")
        page.wait_for_selector("dialog[open]", state="detached")
        assert active(page) == row, "focus returns to the row"

    assert page.dialogs == []


def test_a_kick_from_the_keyboard_needs_a_reason_and_enter_and_nothing_else(
    console: str, livekit_sim: Any, admin: Any, logged_in_page: Any
) -> None:
    room = tour_room(livekit_sim, admin)
    page = logged_in_page(admin, f"/rooms/{room.pk}/")
    target = page.locator('tr.participant-row[data-identity="viewer-1"]')
    target.wait_for()
    while not active(page).endswith("@viewer-1"):
        page.keyboard.press("j")

    page.keyboard.press("x")
    page.locator("dialog[open] [data-testid=target-identity]").wait_for()
    # The dialog opens with the focus on the reason, as a moderator's next key expects.
    page.wait_for_function("() => document.activeElement.id === 'action-reason-preset'")
    page.keyboard.press("ArrowDown")  # the first preset: a reason on its own is enough
    page.keyboard.press("Enter")

    result = page.locator("[data-testid=action-result]")
    result.wait_for()
    assert "viewer-1 was removed from the room." in result.inner_text()
    assert active(page) == "button", "the Close button has the focus"
    page.keyboard.press("Escape")
    page.wait_for_selector("dialog[open]", state="detached")
    entry = AuditEntry.objects.get(action="participant.kick")
    assert (entry.identity, entry.reason) == ("viewer-1", "Harassment or bullying")
    assert page.dialogs == []  # one confirmation: the dialog, never confirm()


def test_tab_moves_through_a_dialog_in_order_and_question_mark_lists_the_keys(
    console: str, livekit_sim: Any, admin: Any, logged_in_page: Any
) -> None:
    room = tour_room(livekit_sim, admin)
    page = logged_in_page(admin, f"/rooms/{room.pk}/")
    page.wait_for_selector("tr.participant-row")
    page.keyboard.press("j")
    page.keyboard.press("w")
    page.locator("dialog[open]").wait_for()
    page.wait_for_function("() => document.activeElement.id === 'action-reason-preset'")

    order = [active(page)]
    for _ in range(4):
        page.keyboard.press("Tab")
        order.append(active(page))

    assert order == [
        "select#action-reason-preset.reason_preset",
        "textarea#action-reason.reason",
        "textarea#action-message.message",
        "a",  # Cancel
        "button",  # Send warning
    ]
    page.keyboard.press("Escape")
    page.wait_for_selector("dialog[open]", state="detached")

    page.keyboard.press("?")
    shortcuts = page.locator("#shortcuts")
    shortcuts.wait_for()
    assert page.evaluate("() => document.getElementById('shortcuts').matches(':modal')")
    for key in ("/", "j", "Enter", "w", "m", "x", "b", "Esc", "?"):
        assert shortcuts.locator(f"kbd:text-is('{key}')").count() >= 1
    page.keyboard.press("Escape")
    assert not page.evaluate("() => document.getElementById('shortcuts').open")
